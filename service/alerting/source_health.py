"""Synthetic `up == 0` rules: a source that cannot be read becomes an alert about that source.

Prometheus shows a dead target as `up == 0`; we do the same with an ordinary
rule evaluated through the ordinary machinery, so a broken scrape target, a
failing SQL probe or an unreachable Prometheus opens one incident (after `for`)
instead of crashing anything or silently holding every rule that reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Protocol

from service.domain.rules import Comparison, Level, Rule, Signal, SignalKind, parse_selector
from service.domain.severity import Severity
from service.domain.units import UnitKind, parse_quantity

SOURCE_DOWN_FOR = timedelta(minutes=1)
SOURCE_DOWN_SEVERITY = Severity.P2


class SourceHealth(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def labels(self) -> Mapping[str, str]: ...


def source_down_rule(kind: str, source: str) -> Rule:
    return Rule(
        name=f"SourceDown_{kind}_{source}",
        group="incidentd-sources",
        signal=Signal(kind=SignalKind.GAUGE, source=source, metric=parse_selector("up")),
        comparison=Comparison.BELOW,
        unit=UnitKind.COUNT,
        warning=None,
        critical=parse_quantity(1),
        for_=SOURCE_DOWN_FOR,
        keep_firing_for=timedelta(0),
        severity={Level.CRITICAL: SOURCE_DOWN_SEVERITY},
        labels={"source": source, "source_kind": kind, "service": "incidentd"},
        annotations={
            "title": f"{kind} source {source!r} cannot be read",
            "summary": f"{kind} source {source!r} cannot be read (up == 0)",
            "description": ("Target {{ labels.instance }} is down. " if kind == "scrape" else "")
            + "Rules reading this source hold their last state until it is readable again.",
            "runbook": "rules/README.md, Sources",
        },
        group_by=("alertname",),
        auto_resolve=True,
        interval=timedelta(seconds=1),  # judged whenever the source is collected
    )


def source_down_values(status: SourceHealth) -> list[tuple[dict[str, str], float]]:
    return [({"source": status.source, **dict(status.labels)}, 1.0 if status.ok else 0.0)]


def errors_by_rule(statuses: Sequence[SourceHealth]) -> dict[str, str]:
    """The first error of each source that is down (a scrape source's first failing target)."""
    errors: dict[str, str] = {}
    for s in statuses:
        if not s.ok:
            errors.setdefault(source_down_rule(s.kind, s.source).name, s.error or "unreadable")
    return errors

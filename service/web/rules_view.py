"""What the rules page shows: each rule's health, its reading in its own units, and its source's status.

Pure: no I/O. A source's status is what `source_statuses` stored of its targets' last reads (up, when,
how long, the error, samples, dropped lines): the same table `GET /api/v1/sources` reads, so every
replica shows the same. Its synthetic `SourceDown_<kind>_<name>` rule's alerts add only whether it has
paged and the incident to follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import msgspec

from service.domain.rules import Rule, Sources
from service.domain.units import format_quantity

# The order people need at 3 a.m.: what hurts, what cannot be judged, what looks wrong, then the rest.
HEALTH_ORDER = {
    "breaching": 0,
    "missing": 0,
    "no data": 1,
    "no series": 2,
    None: 3,
    "healthy": 4,
    "present": 4,
}
HEALTH_TEXT = {
    "breaching": "breaching",
    "no data": "no data: source unreadable",
    "no series": "no series matched",
    None: "not evaluated yet",
    "healthy": "healthy",
    "missing": "series missing",
    "present": "series present",
}

SOURCE_ORDER = {"down": 0, "partial": 1, "unknown": 2, "up": 3}


class TargetLine(msgspec.Struct, frozen=True, kw_only=True):
    """One scrape target's (or a Prometheus server's, or a SQL probe's) last read, as stored."""

    instance: str
    up: bool
    last_read_at: datetime
    duration_seconds: float
    error: str | None
    warning: str | None
    samples: int | None
    dropped_samples: int
    last_success_at: datetime | None


class SourceStatus(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: str
    state: str  # "up", "down" (no target answered), "partial" (some did), "unknown" (never read)
    targets: tuple[TargetLine, ...]
    last_read_at: datetime | None
    incident_id: int | None  # the firing SourceDown alert's incident, when one was declared
    alert: str | None  # "firing" or "pending" when the SourceDown rule has an alert open

    @property
    def targets_up(self) -> int:
        return sum(1 for t in self.targets if t.up)


def source_rules(sources: Sources, down_rule_name: Any) -> dict[str, tuple[str, str]]:
    """The SourceDown rule name of every configured source → (kind, source name)."""
    out: dict[str, tuple[str, str]] = {}
    for kind, entries in (
        ("scrape", sources.scrape),
        ("prometheus", sources.prometheus),
        ("sql", sources.sql),
    ):
        for entry in entries:
            out[str(down_rule_name(kind, entry.name))] = (kind, entry.name)
    return out


def _target(row: Mapping[str, Any]) -> TargetLine:
    return TargetLine(
        instance=row["instance"],
        up=row["up"],
        last_read_at=row["read_at"],
        duration_seconds=row["duration_seconds"],
        error=row["error"],
        warning=row["warning"],
        samples=row["samples"],
        dropped_samples=row["dropped_samples"],
        last_success_at=row["last_success_at"],
    )


def source_statuses(
    rules: Mapping[str, tuple[str, str]],
    stored: Iterable[Mapping[str, Any]],
    alerts: Iterable[Mapping[str, Any]],
) -> dict[str, SourceStatus]:
    """Each source's state from the `source_statuses` rows (what the collector last read, whichever
    replica read it), and from its SourceDown alerts only the page: whether one is open and its incident."""
    by_source: dict[tuple[str, str], list[TargetLine]] = {}
    for row in stored:
        by_source.setdefault((row["kind"], row["source"]), []).append(_target(row))
    by_rule: dict[str, list[Mapping[str, Any]]] = {}
    for alert in alerts:
        by_rule.setdefault(alert["rule"], []).append(alert)
    out: dict[str, SourceStatus] = {}
    for rule_name, (kind, name) in rules.items():
        targets = tuple(sorted(by_source.get((kind, name), []), key=lambda t: (t.up, t.instance)))
        up = sum(1 for t in targets if t.up)
        state = "unknown" if not targets else "up" if up == len(targets) else "down" if up == 0 else "partial"
        open_alerts = by_rule.get(rule_name, [])
        firing = [a for a in open_alerts if a["status"] == "firing"]
        pending = [a for a in open_alerts if a["status"] == "pending"]
        out[name] = SourceStatus(
            name=name,
            kind=kind,
            state=state,
            targets=targets,
            last_read_at=max((t.last_read_at for t in targets), default=None),
            incident_id=next((a["incident_id"] for a in firing if a["incident_id"]), None),
            alert="firing" if firing else "pending" if pending else None,
        )
    return out


class RuleLine(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    group: str
    file: str
    line: int
    enabled: bool
    health: str | None
    health_text: str
    value: str
    comparison: str
    warning: str | None
    critical: str | None
    matched: int | None
    last_evaluated_at: datetime | None
    source: str
    source_status: SourceStatus | None


def rule_lines(
    views: Iterable[Any], rules: Mapping[str, Rule], sources: Mapping[str, SourceStatus]
) -> list[RuleLine]:
    """`views` are the API's RuleView rows; the value is shown in the rule's own units."""
    lines = []
    for view in views:
        rule = rules.get(view.name)
        if view.value is None:
            value = "—"
        elif rule is not None:
            value = format_quantity(view.value, rule.unit)
        else:
            value = f"{view.value:g}"
        lines.append(
            RuleLine(
                name=view.name,
                group=view.group,
                file=view.file,
                line=view.line,
                enabled=view.enabled,
                health=view.health if view.enabled else "disabled",
                health_text=HEALTH_TEXT.get(view.health, str(view.health)) if view.enabled else "disabled",
                value=value,
                comparison=view.comparison,
                warning=view.warning,
                critical=view.critical,
                matched=view.matched_series,
                last_evaluated_at=view.last_evaluated_at,
                source=view.source,
                source_status=sources.get(view.source),
            )
        )
    lines.sort(key=lambda r: (HEALTH_ORDER.get(r.health, 5), r.name))
    return lines

"""The opt-in "series missing" alert: a rule whose signal matches nothing for too long says so.

A threshold rule cannot fire on data it does not have: a renamed metric, a
dropped label or an exporter that stopped exposing a family leaves the rule
quietly healthy. A rule with `absent: {for: 10m}` gets a companion rule here,
evaluated by the ordinary machinery (slot-counted `for`, alert state in
PostgreSQL, one evaluation per slot across replicas), whose one series exists
exactly while the watched signal returns no series at all. Its words say the
data is missing, never that a value is high. A source that cannot be read is
not "no series": its rules are held and the SourceDown alert speaks for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

from service.domain.rules import (
    DEFAULT_GROUP_BY,
    Comparison,
    Level,
    PrometheusAlert,
    Rule,
    Signal,
    SignalKind,
)
from service.domain.units import UnitKind, format_quantity

ABSENT_SUFFIX = "_absent"
MISSING_TEXT = "no series"
BACK_TEXT = "series present again"

Rows = Sequence[tuple[Mapping[str, str], float]]


def absent_name(rule_name: str) -> str:
    return f"{rule_name}{ABSENT_SUFFIX}"


def signal_text(signal: Signal) -> str:
    """The selector or query the rule reads, as written in the rule file."""
    if signal.kind is SignalKind.PROMQL:
        return signal.query or ""
    if signal.kind is SignalKind.RATIO:
        return f"{signal.numerator} / {signal.denominator}"
    return str(signal.metric) if signal.metric is not None else ""


def absent_rule(rule: Rule) -> Rule | None:
    """The companion "series missing" rule of a rule that opted in, else None."""
    check = rule.absent
    if check is None:
        return None
    what = signal_text(rule.signal)
    source = rule.signal.source
    waited = format_quantity(check.for_.total_seconds(), UnitKind.DURATION)
    title = f"No data for {rule.name}: {what} matches no series"
    description = (
        f"The {rule.signal.kind.value} signal {what} from source {source!r} has returned no series "
        f"for at least {waited}. This is missing data, not a high or low value: {rule.name} cannot fire "
        "while its data is missing. Check that the target still exposes the metric under this name and "
        "these labels (a rename, a relabelling, an exporter upgrade), and that the rule selects it."
    )
    runbook = {k: v for k, v in rule.annotations.items() if k in ("runbook", "runbook_url")}
    group_by = tuple(name for name in rule.group_by if name == "alertname" or name in rule.labels)
    return Rule(
        name=absent_name(rule.name),
        group=rule.group,
        signal=rule.signal,
        comparison=Comparison.ABOVE,
        unit=UnitKind.COUNT,
        warning=None,
        critical=None,
        for_=check.for_,
        keep_firing_for=timedelta(0),
        severity={Level.CRITICAL: check.severity},
        labels={**rule.labels, "absent": "true"},
        annotations={
            "title": title,
            "summary": f"no series for {waited} or more: {rule.name} cannot fire while its data is missing",
            "description": description,
            **runbook,
        },
        group_by=group_by or DEFAULT_GROUP_BY[:1],
        auto_resolve=True,
        enabled=rule.enabled,
        interval=rule.interval,
        file=rule.file,
        line=check.line or rule.line,
        # "every series the signal returns is an alert": the one series below exists only while missing
        prometheus=PrometheusAlert(alertname=absent_name(rule.name), level=Level.CRITICAL),
        absence_of=rule.name,
    )


def absence_rows(rule: Rule, rows: Rows | None) -> list[tuple[dict[str, str], float]] | None:
    """The companion's series: one while the watched rule's signal returns none; None (hold every
    state) while the source cannot be read, which the SourceDown alert reports instead."""
    if rows is None:
        return None
    if rule.signal.kind is SignalKind.PROBE and rule.signal.metric is not None:
        selector = rule.signal.metric
        rows = [(labels, value) for labels, value in rows if selector.matches(labels)]
    return [] if rows else [({}, 1.0)]


def with_absence(rules: Iterable[Rule]) -> list[Rule]:
    """The companions of the rules that opted in."""
    return [companion for rule in rules if (companion := absent_rule(rule)) is not None]

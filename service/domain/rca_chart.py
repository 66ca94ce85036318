"""The RCA chart of an incident: one panel per rule that fired.

Points come from the stored value history of the incident's alert group (samples the evaluator
keeps from the pending phase to the end of the incident) and, where none were stored (an
incident from before that history, or pushed alerts), from the values on its timeline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from service.domain.charts import ChartLine, ChartPanel, ChartPoint, ChartSpec
from service.domain.incidents import Incident, TimelineEvent
from service.domain.units import UnitKind

_VALUED = frozenset({"declared", "attached", "severity_raised", "alert_level_changed", "alert_cleared"})
_OPENS = frozenset({"declared", "retriggered", "reopened"})
_CLOSES = frozenset({"mitigated", "resolved"})


def number(value: object) -> float | None:
    """A finite number from event data; numeric strings count, booleans do not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def _unit(text: object) -> UnitKind | None:
    try:
        return UnitKind(str(text))
    except ValueError:
        return None


def open_intervals(
    incident: Incident, events: Sequence[TimelineEvent], now: datetime
) -> tuple[tuple[datetime, datetime], ...]:
    """When the incident was open (triggered or acknowledged): not while mitigated or after resolution."""
    intervals: list[tuple[datetime, datetime]] = []
    since: datetime | None = None
    for event in events:
        if event.kind in _OPENS and since is None:
            since = event.at
        elif event.kind in _CLOSES and since is not None:
            intervals.append((since, event.at))
            since = None
    if since is not None:
        intervals.append((since, incident.resolved_at or now))
    return tuple((a.astimezone(UTC), b.astimezone(UTC)) for a, b in intervals)


Samples = Mapping[str, Sequence[tuple[datetime, float]]]


def _panel(
    rule: str, events: Sequence[TimelineEvent], sampled: Sequence[tuple[datetime, float]]
) -> ChartPanel:
    points: list[ChartPoint] = []
    lines: dict[str, float] = {}
    unit: UnitKind | None = None
    for event in events:
        data = event.data
        unit = unit or _unit(data.get("unit"))
        for level in ("warning", "critical"):
            value = number(data.get(f"{level}_threshold"))
            if value is not None:
                lines[level] = value
        level, threshold = str(data.get("level") or "threshold"), number(data.get("threshold"))
        if threshold is not None and not (level == "threshold" and lines):
            lines.setdefault(level, threshold)
        value = number(data.get("value"))
        if value is not None and (not points or points[-1].at != event.at):
            points.append(ChartPoint(event.at.astimezone(UTC), value))
    if sampled:
        merged = {p.at: p.value for p in points}
        merged.update((at.astimezone(UTC), value) for at, value in sampled if math.isfinite(value))
        points = [ChartPoint(at, value) for at, value in sorted(merged.items())]
    levels = ("threshold", "warning", "critical")
    ordered = tuple(ChartLine(level, lines[level]) for level in levels if level in lines)
    return ChartPanel(name=rule, unit=unit, points=tuple(points), lines=ordered)


def incident_chart(
    incident: Incident, events: Sequence[TimelineEvent], now: datetime, samples: Samples | None = None
) -> ChartSpec:
    """Every rule that fired, in the order they first did, over the incident's life (and the
    pending minutes before it, when the value history has them)."""
    by_rule: dict[str, list[TimelineEvent]] = {}
    for event in events:
        rule = event.data.get("rule")
        if event.kind in _VALUED and isinstance(rule, str) and rule:
            by_rule.setdefault(rule, []).append(event)
    samples = samples or {}
    end = incident.resolved_at or now
    start = incident.created_at.astimezone(UTC)
    firsts = [at.astimezone(UTC) for rule in by_rule for at, _ in samples.get(rule, ())[:1]]
    return ChartSpec(
        title=f"{incident.human_id}: alert values",
        panels=tuple(_panel(rule, found, samples.get(rule, ())) for rule, found in by_rule.items()),
        open_intervals=open_intervals(incident, events, now),
        start=min([start, *firsts]),
        end=end.astimezone(UTC),
    )

"""What the rules page shows: each rule's health, its reading in its own units, and its source's status.

Pure: no I/O. A source's status comes from its synthetic `SourceDown_<kind>_<name>` rule, judged by
the ordinary evaluator whenever the source is read: its last reading is `up` (1, or 0 when a target
is down), its alerts say whether it is pending or firing, and its incident's timeline keeps the error.
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


class SourceStatus(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: str
    state: str  # "up", "down", "failing" (down, not yet for a minute), "unknown" (never read)
    last_read_at: datetime | None
    error: str | None
    incident_id: int | None


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


def source_statuses(
    rules: Mapping[str, tuple[str, str]], slots: Mapping[str, Any], alerts: Iterable[Mapping[str, Any]]
) -> dict[str, SourceStatus]:
    by_rule: dict[str, list[Mapping[str, Any]]] = {}
    for alert in alerts:
        by_rule.setdefault(alert["rule"], []).append(alert)
    out: dict[str, SourceStatus] = {}
    for rule_name, (kind, name) in rules.items():
        slot = slots.get(rule_name)
        states = by_rule.get(rule_name, [])
        firing = [a for a in states if a["status"] == "firing"]
        pending = [a for a in states if a["status"] == "pending"]
        reading = slot["value"] if slot is not None else None
        if firing:
            state = "down"
        elif pending or (reading is not None and reading < 1):
            state = "failing"
        elif slot is None:
            state = "unknown"
        else:
            state = "up"
        error = next((a["error"] for a in firing if a["error"]), None)
        incident = next((a["incident_id"] for a in firing if a["incident_id"]), None)
        last = slot["last_data_at"] or slot["evaluated_at"] if slot is not None else None
        out[name] = SourceStatus(
            name=name, kind=kind, state=state, last_read_at=last, error=error, incident_id=incident
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

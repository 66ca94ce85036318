"""From one evaluation's alert transitions to what must happen to incidents: pure, no I/O.

One incident per group (the rule's `group_by`, Alertmanager-style): however many
series of a group fire in one evaluation, the incident gets one declare (or one
attach that raises its severity) and one timeline event, carrying the worst value
and how many series are involved. The evaluator applies the plan inside the same
transaction that stores the alert states, so a state saying "firing" can never
commit without its incident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from service.domain.absence import BACK_TEXT, MISSING_TEXT
from service.domain.alerts import TransitionKind
from service.domain.evaluation import RuleTransition
from service.domain.rules import Comparison, Level, Rule
from service.domain.severity import Severity
from service.domain.units import UnitKind, format_quantity

RUNBOOK_KEYS = ("runbook", "runbook_url")


class Fire(msgspec.Struct, frozen=True, kw_only=True):
    """Open the group's incident, or attach to it (raising its severity when this is worse)."""

    title: str
    severity: Severity
    labels: dict[str, str]
    details: dict[str, Any]
    raised: bool  # a warning became critical: worth its own timeline wording


class Clear(msgspec.Struct, frozen=True, kw_only=True):
    """Series of the group stopped breaching; `all_clear` when none of the group is firing any more."""

    details: dict[str, Any]
    all_clear: bool
    auto_resolve: bool


class Note(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    details: dict[str, Any]


class GroupPlan(msgspec.Struct, frozen=True, kw_only=True):
    group_key: str
    fire: Fire | None = None
    clear: Clear | None = None
    notes: tuple[Note, ...] = ()


def _worst(rule: Rule, transitions: Sequence[RuleTransition]) -> RuleTransition:
    """The transition to headline: critical before warning, then the value furthest past the threshold."""

    def badness(t: RuleTransition) -> tuple[int, float]:
        level_rank = 2 if t.level is Level.CRITICAL else 1 if t.level is Level.WARNING else 0
        value = t.value if t.value is not None else float("-inf")
        return (level_rank, value if rule.comparison is Comparison.ABOVE else -value)

    return max(transitions, key=badness)


def incident_labels(rule: Rule, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that identify the group (plus the rule's own, e.g. team): what policies route on."""
    picked = {name: labels[name] for name in rule.group_by if name in labels}
    return {**rule.labels, **picked, "alertname": rule.alertname}


def value_text(rule: Rule, value: float) -> str:
    """A reading as its thresholds are written: `4.2%`, `1.5s`, and `260 jobs` when they count jobs;
    a "series missing" alert has no reading to show, only that the series is missing."""
    if rule.absence_of is not None:
        return MISSING_TEXT
    text = format_quantity(value, rule.unit)
    written = next((q.text for q in (rule.critical, rule.warning) if q is not None), "")
    noun = written.split()[-1] if rule.unit is UnitKind.COUNT and len(written.split()) == 2 else ""
    return f"{text} {noun}" if noun and not noun[0].isdigit() else text


def alert_details(rule: Rule, transition: RuleTransition, count: int) -> dict[str, Any]:
    """What the timeline, notifications and RCA need to say what breached, by how much, and where to look."""
    level = transition.level or transition.previous_level
    threshold = rule.threshold(level) if level is not None else None
    annotations = transition.annotations
    runbook = next((annotations[k] for k in RUNBOOK_KEYS if annotations.get(k)), None)
    details: dict[str, Any] = {
        "rule": rule.name,
        "group": rule.group,
        "group_key": transition.group_key,
        "series": transition.series,
        "series_count": count,
        "value": transition.value,
        "value_text": value_text(rule, transition.value) if transition.value is not None else None,
        "threshold": threshold.value if threshold is not None else None,
        "threshold_text": threshold.text if threshold is not None else None,
        "comparison": rule.comparison.value,
        "warning_threshold": rule.warning.value if rule.warning is not None else None,
        "critical_threshold": rule.critical.value if rule.critical is not None else None,
        "unit": rule.unit.value,
        "level": level.value if level is not None else None,
        "summary": annotations.get("summary", ""),
        "rule_title": incident_title(rule, transition.labels, annotations),
        "breach_since": transition.breach_since.isoformat() if transition.breach_since else None,
        "description": annotations.get("description", ""),
        "runbook": runbook,
        "source_file": f"{rule.file}:{rule.line}" if rule.file else None,
    }
    if rule.absence_of is not None:  # no reading to show or keep as a peak: the series is missing, or back
        back = transition.kind is TransitionKind.RESOLVED
        details.update(value=None, value_text=BACK_TEXT if back else MISSING_TEXT)
    return details


_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")
_READINGS = ("$value", ".Value")  # the Go-template spellings of the value in a Prometheus annotation


def humanize(name: str) -> str:
    """`ErrorRateHigh` -> `Error rate high`, `APIDown` -> `API down`, `disk_full` -> `Disk full`."""
    words = _WORD.findall(name) or [name]
    shown = [w if w.isupper() and len(w) > 1 else w.lower() for w in words]
    return " ".join(shown)[:1].upper() + " ".join(shown)[1:]


def incident_title(rule: Rule, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """What is wrong and where, never a reading: a rule's `title` annotation as written (it may name
    labels, e.g. `Error rate high on {{ labels.service }}`); for a Prometheus rule its `summary`, the
    one line such rules are written with, unless that quotes the value; else the alert name humanized
    with the service. Values belong in the current-state line, which follows every change."""
    given = (annotations.get("title") or "").strip()
    if given:
        return given[:500]
    summary = (annotations.get("summary") or "").strip()
    template = rule.annotations.get("summary", "")
    if rule.prometheus is not None and summary and not any(r in template for r in _READINGS):
        return summary[:500]
    head, service = humanize(rule.alertname), labels.get("service")
    return (f"{head} on {service}" if service else head)[:500]


def plan_group(
    rule: Rule, group_key: str, transitions: Sequence[RuleTransition], still_firing: int
) -> GroupPlan:
    """Decide one group's incident changes. `still_firing` counts the group's series firing after this
    evaluation, so a group clears only when its last series does."""
    firing = [t for t in transitions if t.kind in (TransitionKind.FIRING, TransitionKind.LEVEL_RAISED)]
    lowered = [t for t in transitions if t.kind is TransitionKind.LEVEL_LOWERED]
    resolved = [t for t in transitions if t.kind is TransitionKind.RESOLVED]
    fire: Fire | None = None
    clear: Clear | None = None
    notes: list[Note] = []
    if firing:
        worst = _worst(rule, firing)
        severity = min(t.severity for t in firing if t.severity is not None)
        fire = Fire(
            title=incident_title(rule, worst.labels, worst.annotations),
            severity=severity,
            labels=incident_labels(rule, worst.labels),
            details=alert_details(rule, worst, len(firing)),
            raised=any(t.kind is TransitionKind.LEVEL_RAISED for t in firing),
        )
    if lowered:
        notes.append(
            Note(kind="alert_level_changed", details=alert_details(rule, _worst(rule, lowered), len(lowered)))
        )
    if resolved and not firing:
        last = resolved[-1]
        clear = Clear(
            details={**alert_details(rule, last, len(resolved)), "still_firing": still_firing},
            all_clear=still_firing == 0,
            auto_resolve=rule.auto_resolve,
        )
    return GroupPlan(group_key=group_key, fire=fire, clear=clear, notes=tuple(notes))

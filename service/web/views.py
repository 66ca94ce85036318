"""What the incident page shows, computed from the incident and the extras the capabilities add.

Pure: no I/O. The same extras feed GET /api/v1/incidents/{id}, so the page and the
API cannot disagree about the escalation state or the notification trail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import msgspec

from service.domain.incidents import Action, Incident, Status, TimelineEvent, allowed_actions
from service.domain.rca import summarize_event
from service.domain.severity import Severity

SEVERITY_WORD = {
    Severity.P0: "critical",
    Severity.P1: "high",
    Severity.P2: "medium",
    Severity.P3: "low",
}
ACTION_LABEL = {
    Action.ACKNOWLEDGE: "Acknowledge",
    Action.UNACKNOWLEDGE: "Unacknowledge",
    Action.MITIGATE: "Mitigate",
    Action.RESOLVE: "Resolve",
    Action.REOPEN: "Reopen",
}


class Duration(msgspec.Struct, frozen=True):
    label: str
    value: timedelta | None
    running: bool  # still counting: the step has not happened yet


def durations(incident: Incident, now: datetime) -> list[Duration]:
    """Time to acknowledge, mitigate and resolve; an open clock counts up to now."""
    start = incident.created_at
    out: list[Duration] = []
    for label, at in (
        ("to acknowledge", incident.acknowledged_at),
        ("to mitigate", incident.mitigated_at),
        ("to resolve", incident.resolved_at),
    ):
        if at is not None:
            out.append(Duration(label, at - start, False))
        elif incident.status.is_open:
            out.append(Duration(label, now - start, True))
        else:
            out.append(Duration(label, None, False))
    return out


def button_actions(incident: Incident) -> list[tuple[str, str]]:
    """One-click actions (value, label); resolve has its own form because it takes a note."""
    return [(a.value, ACTION_LABEL[a]) for a in allowed_actions(incident.status) if a is not Action.RESOLVE]


def can_resolve(incident: Incident) -> bool:
    return Action.RESOLVE in allowed_actions(incident.status)


class EscalationState(msgspec.Struct, frozen=True, kw_only=True):
    policy: str
    level_told: int
    next_text: str | None
    next_due_at: datetime | None
    next_targets: list[str]


def _targets_text(targets: Mapping[str, list[str]]) -> list[str]:
    names = {
        "pagerduty": "PagerDuty",
        "slack_channels": "Slack",
        "slack_users": "Slack user",
        "slack_usergroups": "Slack group",
    }
    return [f"{names.get(kind, kind)} {item}" for kind, items in targets.items() for item in items]


def escalation_state(
    incident: Incident, extras: Mapping[str, Any], targets_of_level: Callable[[int], Mapping[str, list[str]]]
) -> EscalationState | None:
    data = extras.get("escalation")
    if not data:
        return None
    step = data.get("next")
    next_text, due, targets = None, None, []
    if step and incident.status.is_open:
        due = datetime.fromisoformat(step["due_at"])
        if step["kind"] == "escalate":
            level = int(step.get("level") or 0)
            next_text = f"escalate to level {level} ({step.get('level_name', '')})"
            targets = _targets_text(targets_of_level(level))
        elif step["kind"] == "exhausted":
            next_text = "ladder exhausted: every level has been told"
        elif step["kind"] == "overdue":
            next_text = "response target passes"
        else:
            next_text = f"RCA reminder ({step.get('stage') or 'draft'})"
    return EscalationState(
        policy=str(data.get("policy", "")),
        level_told=int(data.get("highest_level_told") or 0),
        next_text=next_text,
        next_due_at=due,
        next_targets=targets,
    )


class AlertLine(msgspec.Struct, frozen=True, kw_only=True):
    rule: str
    labels: str
    status: str
    level: str | None
    value: str
    threshold: str | None
    since: datetime | None


def alert_lines(
    extras: Mapping[str, Any], describe: Callable[[str, str | None, float | None], tuple[str, str | None]]
) -> list[AlertLine]:
    """`describe(rule, level, value)` gives the value and threshold in the rule's own units."""
    lines = []
    for row in extras.get("alerts", []):
        value, threshold = describe(row["rule"], row.get("level"), row.get("value"))
        labels = ", ".join(f"{k}={v}" for k, v in sorted(dict(row.get("labels") or {}).items()))
        lines.append(
            AlertLine(
                rule=row["rule"],
                labels=labels,
                status=row["status"],
                level=row.get("level"),
                value=value,
                threshold=threshold,
                since=row.get("firing_since") or row.get("resolved_at"),
            )
        )
    return lines


class TrailLine(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    channel: str
    kind: str
    target: str
    status: str
    attempts: int
    reason: str | None
    at: datetime
    can_retry: bool


def trail_lines(extras: Mapping[str, Any]) -> list[TrailLine]:
    return [
        TrailLine(
            id=int(n["id"]),
            channel="PagerDuty" if n["channel"] == "pagerduty" else "Slack",
            kind=n["kind"],
            target=n["target"],
            status=n["status"],
            attempts=int(n["attempts"]),
            reason=n.get("last_error") if n["status"] in ("held", "dead", "pending") else None,
            at=datetime.fromisoformat(n["sent_at"] or n["created_at"]),
            can_retry=n["status"] == "dead",
        )
        for n in extras.get("notifications", [])
    ]


_FREE_TEXT = ("note", "text", "reason")


def event_summary(event: TimelineEvent) -> str:
    """The RCA's wording for the event; its free text (note, reason) is shown apart, as Markdown."""
    if event.kind == "note":
        return "note"
    data = {k: v for k, v in event.data.items() if k not in _FREE_TEXT}
    return summarize_event(msgspec.structs.replace(event, data=data))


def event_text(data: Mapping[str, Any]) -> str | None:
    for key in _FREE_TEXT:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def is_open_status(status: str) -> bool:
    return Status(status).is_open

"""The incident lifecycle as a pure state machine.

Transitions are decided here and nowhere else, so the HTTP API, Slack and the
rules engine cannot disagree about what "acknowledge a resolved incident" means.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec

from service.domain.event_kinds import EventKind
from service.domain.severity import Severity


class Status(enum.StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"

    @property
    def is_open(self) -> bool:
        return self is not Status.RESOLVED


class Action(enum.StrEnum):
    ACKNOWLEDGE = "acknowledge"
    UNACKNOWLEDGE = "unacknowledge"
    MITIGATE = "mitigate"
    RESOLVE = "resolve"
    REOPEN = "reopen"


# Which statuses each action may start from, and where it leads.
_TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    Action.ACKNOWLEDGE: (frozenset({Status.TRIGGERED}), Status.ACKNOWLEDGED),
    Action.UNACKNOWLEDGE: (frozenset({Status.ACKNOWLEDGED}), Status.TRIGGERED),
    Action.MITIGATE: (frozenset({Status.TRIGGERED, Status.ACKNOWLEDGED}), Status.MITIGATED),
    Action.RESOLVE: (
        frozenset({Status.TRIGGERED, Status.ACKNOWLEDGED, Status.MITIGATED}),
        Status.RESOLVED,
    ),
    Action.REOPEN: (frozenset({Status.MITIGATED, Status.RESOLVED}), Status.TRIGGERED),
}

# Event kinds an action records on the timeline.
ACTION_EVENT: dict[Action, str] = {
    Action.ACKNOWLEDGE: EventKind.ACKNOWLEDGED,
    Action.UNACKNOWLEDGE: EventKind.UNACKNOWLEDGED,
    Action.MITIGATE: EventKind.MITIGATED,
    Action.RESOLVE: EventKind.RESOLVED,
    Action.REOPEN: EventKind.REOPENED,
}


class InvalidTransition(Exception):
    """Raised when an action does not apply to the incident's current status."""

    def __init__(self, action: Action, status: Status) -> None:
        allowed = ", ".join(sorted(s.value for s in _TRANSITIONS[action][0]))
        super().__init__(
            f"cannot {action.value} an incident that is {status.value} (allowed from: {allowed})"
        )
        self.action = action
        self.status = status


def next_status(action: Action, current: Status) -> Status:
    sources, target = _TRANSITIONS[action]
    if current not in sources:
        raise InvalidTransition(action, current)
    return target


def allowed_actions(current: Status) -> list[Action]:
    return [action for action, (sources, _) in _TRANSITIONS.items() if current in sources]


class Actor(msgspec.Struct, frozen=True):
    """Who did something, and through which door (api, slack, pagerduty, rules, escalation, system)."""

    name: str
    source: str

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


class TimelineEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One immutable line of an incident's history; the RCA is generated from these."""

    id: int
    incident_id: int
    at: datetime
    kind: str
    actor: str
    source: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class Incident(msgspec.Struct, kw_only=True):
    id: int
    dedup_key: str
    title: str
    description: str
    severity: Severity
    status: Status
    labels: dict[str, str]
    assignee: str | None
    created_by: str
    source: str
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None

    @property
    def human_id(self) -> str:
        return format_human_id(self.id)


HUMAN_ID_PREFIX = "INC-"


def format_human_id(incident_id: int) -> str:
    return f"{HUMAN_ID_PREFIX}{incident_id}"


def incident_page_url(public_url: str, incident_id: int) -> str:
    """The console page every PagerDuty and Slack link points to."""
    return f"{public_url.rstrip('/')}/incidents/{incident_id}"


def parse_human_id(text: str) -> int:
    """Accept `42`, `#42`, `INC-42` and `inc-42`: people type all of these in chat."""
    cleaned = text.strip().lstrip("#").upper().removeprefix(HUMAN_ID_PREFIX)
    if cleaned.isdigit() and 0 < int(cleaned) < 2**63:
        return int(cleaned)
    raise ValueError(f"not an incident id: {text!r} (expected e.g. 42 or INC-42)")


def severity_change_kind(old: Severity, new: Severity) -> str | None:
    """Name the timeline event for a severity change, or None when nothing changes."""
    if new < old:
        return EventKind.SEVERITY_RAISED
    if new > old:
        return EventKind.SEVERITY_LOWERED
    return None

"""The data of every kind of timeline event, as versioned structs (`PAYLOADS` maps kind to struct).

`v` is the format; events without one are version 0, the format they always had. Unknown
fields are ignored, so a newer writer never breaks an older reader.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from service.domain.event_kinds import EventKind

# The format events have always had is version 0, stored without `v`; a change of fields bumps it,
# and from then on events carry `v` so readers can tell the formats apart.
VERSION = 0


class EventData(msgspec.Struct, frozen=True, kw_only=True):
    v: int = 0

    def as_data(self) -> dict[str, Any]:
        """The stored form: absent optional fields stay absent, and version 0 carries no `v`."""
        built: dict[str, Any] = msgspec.to_builtins(self)
        return {k: v for k, v in built.items() if v is not None and not (k == "v" and v == 0)}


class Escalated(EventData, frozen=True, kw_only=True):
    """A level was told. `targets` maps a channel plug-in (or a Slack mention kind) to its targets."""

    level: int
    level_name: str = ""
    reason: str = ""
    targets: dict[str, list[str]] = msgspec.field(default_factory=dict)
    attempt: int = 1
    policy: str = ""
    severity: str = ""
    pages: bool = True
    expected_resolution_seconds: int | None = None
    open_since: str | None = None

    def targets_of(self, channel: str) -> list[str]:
        return list(self.targets.get(channel) or [])


class DeliveryReceipt(EventData, frozen=True, kw_only=True):
    """notification_sent / notification_failed: which outbox row, where to, and why it died."""

    channel: str
    kind: str
    target: str
    outbox_id: int | None = None  # None: recorded by hand (a test, a script), not by the sender
    error: str | None = None


class StatusChanged(EventData, frozen=True, kw_only=True):
    """acknowledged, unacknowledged, mitigated, resolved, reopened: from which status to which.

    A change the rules made (an alert cleared) also carries the alert's facts, kept flat beside these."""

    from_: str = msgspec.field(default="", name="from")
    to: str = ""
    note: str | None = None
    reason: str | None = None
    summary: str | None = None


class SeverityChanged(EventData, frozen=True, kw_only=True):
    """severity_raised / severity_lowered, as labels ("P1")."""

    from_: str = msgspec.field(default="", name="from")
    to: str = ""
    reason: str | None = None


class Retitled(EventData, frozen=True, kw_only=True):
    from_: str = msgspec.field(default="", name="from")
    to: str = ""


class Assigned(EventData, frozen=True, kw_only=True):
    from_: str | None = msgspec.field(default=None, name="from")
    to: str = ""


class Note(EventData, frozen=True, kw_only=True):
    text: str = ""


class AlertFacts(EventData, frozen=True, kw_only=True):
    """What a rule's alert says (service/domain/alert_incidents.py alert_details), on declared,
    attached, retriggered, alert_cleared and alert_level_changed; a pushed alert carries fewer."""

    rule: str | None = None
    group: str | None = None
    group_key: str | None = None
    series: dict[str, str] | None = None
    series_count: int | None = None
    value: float | str | None = None
    value_text: str | None = None
    threshold: float | str | None = None
    threshold_text: str | None = None
    comparison: str | None = None
    warning_threshold: float | str | None = None
    critical_threshold: float | str | None = None
    unit: str | None = None
    level: str | None = None
    summary: str | None = None
    rule_title: str | None = None
    breach_since: str | None = None
    description: str | None = None
    runbook: str | None = None
    source_file: str | None = None
    metric: str | None = None
    reason: str | None = None


class Declared(AlertFacts, frozen=True, kw_only=True):
    title: str = ""
    severity: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)


class Attached(AlertFacts, frozen=True, kw_only=True):
    severity: str = ""


class Silenced(EventData, frozen=True, kw_only=True):
    """silenced: why (silences, maintenance windows, inhibitions) and how many alerts; unsilenced: how
    many of them fire unmuted now."""

    reasons: list[str] | None = None
    alerts: int | None = None
    alerts_firing_unmuted: int | None = None


class EscalationExhausted(EventData, frozen=True, kw_only=True):
    level: int | None = None
    level_name: str = ""
    attempts: int | None = None
    policy: str = ""


class EscalationChanged(EventData, frozen=True, kw_only=True):
    """escalation_stopped / escalation_rearmed: the event kind that stopped or re-armed it."""

    reason: str = ""


class EscalationUnmentioned(EventData, frozen=True, kw_only=True):
    level: int | None = None
    names: list[str] = msgspec.field(default_factory=list)


class RcaReminder(EventData, frozen=True, kw_only=True):
    stage: str | None = None
    due: str | None = None
    owner: str | None = None


class ActionItemEvent(EventData, frozen=True, kw_only=True):
    """action_item_added / _updated / _due: the item as it then was."""

    item: str = ""
    title: str = ""
    owner: str | None = None
    due: str | None = None
    status: str | None = None
    changed: str | None = None
    stage: str | None = None


PAYLOADS: dict[str, type[EventData]] = {
    EventKind.DECLARED: Declared,
    EventKind.ATTACHED: Attached,
    EventKind.RETRIGGERED: AlertFacts,
    EventKind.ALERT_CLEARED: AlertFacts,
    EventKind.ALERT_LEVEL_CHANGED: AlertFacts,
    **dict.fromkeys(
        (
            EventKind.ACKNOWLEDGED,
            EventKind.UNACKNOWLEDGED,
            EventKind.MITIGATED,
            EventKind.RESOLVED,
            EventKind.REOPENED,
        ),
        StatusChanged,
    ),
    EventKind.SEVERITY_RAISED: SeverityChanged,
    EventKind.SEVERITY_LOWERED: SeverityChanged,
    EventKind.RETITLED: Retitled,
    EventKind.ASSIGNED: Assigned,
    EventKind.NOTE: Note,
    EventKind.SILENCED: Silenced,
    EventKind.UNSILENCED: Silenced,
    EventKind.ESCALATED: Escalated,
    EventKind.ESCALATION_EXHAUSTED: EscalationExhausted,
    EventKind.ESCALATION_STOPPED: EscalationChanged,
    EventKind.ESCALATION_REARMED: EscalationChanged,
    EventKind.ESCALATION_UNMENTIONED: EscalationUnmentioned,
    EventKind.RCA_REMINDER: RcaReminder,
    EventKind.NOTIFICATION_SENT: DeliveryReceipt,
    EventKind.NOTIFICATION_FAILED: DeliveryReceipt,
    EventKind.ACTION_ITEM_ADDED: ActionItemEvent,
    EventKind.ACTION_ITEM_UPDATED: ActionItemEvent,
    EventKind.ACTION_ITEM_DUE: ActionItemEvent,
}


def data_of(struct: EventData, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored form with a caller's extra facts (an alert's details) kept flat beside the struct's."""
    return {**(extra or {}), **struct.as_data()}


E = TypeVar("E", bound=EventData)


def read(data: dict[str, Any], kind: type[E]) -> E | None:
    """The event's data as its struct, or None when it does not fit (shown, never acted on)."""
    try:
        return msgspec.convert(data, kind, strict=False)
    except msgspec.ValidationError:
        return None


def decode(kind: str, data: dict[str, Any]) -> EventData | None:
    """Any event's data as the struct of its kind; None for a kind this release does not know, or data
    that does not fit it."""
    struct = PAYLOADS.get(kind)
    return read(data, struct) if struct is not None else None

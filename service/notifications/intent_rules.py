"""What every intent writer (one by one, or many changes together) reads the same way."""

from __future__ import annotations

from service.domain import event_payloads
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import Escalated
from service.domain.incidents import Actor, TimelineEvent
from service.notifications import messages
from service.notifications.channels.slack.text import TargetName

# Our own receipts must never cause more messages (record_in publishes them to observers too).
SILENT = frozenset(
    {
        EventKind.NOTIFICATION_SENT,
        EventKind.NOTIFICATION_FAILED,
        EventKind.ATTACHED,
        EventKind.RCA_REMINDER,
        EventKind.ESCALATION_UNMENTIONED,
    }
)
NOTIFICATIONS_ACTOR = Actor(name="notifications", source="system")
# Escalation target keys that PagerDuty and Slack read themselves; any other key names a plug-in.
BUILT_IN_TARGETS = frozenset({"pagerduty", "slack_channels", "slack_users", "slack_usergroups"})
INCIDENT_KIND = "incident"


def escalation_names(event: TimelineEvent) -> list[TargetName]:
    return messages.escalation_names(event.data) if event.kind == EventKind.ESCALATED else []


def escalation_targets(event: TimelineEvent, channel: str) -> list[str]:
    told = event_payloads.read(event.data, Escalated)
    return told.targets_of(channel) if told is not None else []

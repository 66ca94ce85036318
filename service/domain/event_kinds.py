"""Every kind of timeline event, named once. The timeline stores the value; StrEnum members equal it.

Producers (the incident service, escalation, alerting, notifications) and readers (intents,
the RCA, the console) use these names instead of spelling the strings again. Rows keep the
plain string, so a kind added by a newer release still reads as text in an older one.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    DECLARED = "declared"
    ATTACHED = "attached"
    ACKNOWLEDGED = "acknowledged"
    UNACKNOWLEDGED = "unacknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    RETRIGGERED = "retriggered"
    SEVERITY_RAISED = "severity_raised"
    SEVERITY_LOWERED = "severity_lowered"
    ASSIGNED = "assigned"
    RETITLED = "retitled"
    NOTE = "note"
    ALERT_CLEARED = "alert_cleared"
    ALERT_LEVEL_CHANGED = "alert_level_changed"
    SILENCED = "silenced"
    UNSILENCED = "unsilenced"
    ESCALATED = "escalated"
    ESCALATION_EXHAUSTED = "escalation_exhausted"
    ESCALATION_STOPPED = "escalation_stopped"
    ESCALATION_REARMED = "escalation_rearmed"
    ESCALATION_UNMENTIONED = "escalation_unmentioned"
    RCA_REMINDER = "rca_reminder"
    NOTIFICATION_SENT = "notification_sent"
    NOTIFICATION_FAILED = "notification_failed"
    ACTION_ITEM_ADDED = "action_item_added"
    ACTION_ITEM_UPDATED = "action_item_updated"
    ACTION_ITEM_DUE = "action_item_due"

"""What Slack shows: short mrkdwn answers, ephemeral or in the channel, with buttons on `show`.

Everything user-supplied goes through slack_text.escape, so a title cannot ping @channel, fake a
link or add formatting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from service.domain import event_payloads
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import DeliveryReceipt
from service.domain.incidents import Incident, Status, TimelineEvent, incident_page_url
from service.notifications.channels.slack.buttons import actions_block
from service.notifications.channels.slack.text import escape
from service.slack_commands.parser import USAGES, Usage

Visibility = Literal["ephemeral", "in_channel"]
SHOWN_EVENTS = 8
_STATUS_ICON = {
    Status.TRIGGERED: ":rotating_light:",
    Status.ACKNOWLEDGED: ":eyes:",
    Status.MITIGATED: ":adhesive_bandage:",
    Status.RESOLVED: ":white_check_mark:",
}


class Reply(msgspec.Struct, frozen=True):
    text: str
    visibility: Visibility = "ephemeral"
    blocks: tuple[dict[str, Any], ...] = ()

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"response_type": self.visibility, "text": self.text}
        if self.blocks:
            body["blocks"] = list(self.blocks)
        return body


_MENTION = re.compile(r"<@[A-Z0-9]+>")


def person(name: str) -> str:
    """A stored assignee as Slack should show it: a bare `<@U123>` mention stays clickable."""
    return name if _MENTION.fullmatch(name) else escape(name)


def ago(then: datetime, now: datetime) -> str:
    seconds = max(int((now - then).total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m ago"
    return f"{seconds // 86400}d ago"


def duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes % 60 else f"{minutes // 60}h"


def headline(incident: Incident) -> str:
    icon = _STATUS_ICON[incident.status]
    return f"{icon} *{incident.human_id}* `{incident.severity.label}` {escape(incident.title)}"


def usage_line(usage: Usage, command: str) -> str:
    return f"`{command} {usage.syntax}` {usage.summary}, e.g. `{command} {usage.example}`"


def help_reply(command: str) -> Reply:
    lines = [f"*{command}* runs incidents from Slack. IDs may be written 42, #42 or INC-42."]
    lines += [f"• {usage_line(u, command)}" for u in USAGES]
    return Reply("\n".join(lines))


def usage_reply(problem: str, usage: Usage | None, command: str) -> Reply:
    if usage is None:
        return Reply(f":warning: {problem}\nType `{command} help` for the list of commands.")
    return Reply(f":warning: {problem}\nUsage: {usage_line(usage, command)}")


def problem_reply(problem: str) -> Reply:
    return Reply(f":warning: {escape(problem)}")


def buttons(incident: Incident) -> dict[str, Any]:
    return actions_block(incident.id, incident.status.value) or {"type": "actions", "elements": []}


def _event_line(event: TimelineEvent) -> str:
    detail = ""
    if "from" in event.data and "to" in event.data:
        detail = f" {event.data['from']} → {event.data['to']}"
    text = event.data.get("text") or event.data.get("note")
    if isinstance(text, str) and text:
        detail += f": {escape(text[:200])}"
    return f"`{event.at:%H:%M}` {event.kind}{escape(detail)} — {escape(event.actor)}"


_DELIVERY_KINDS = frozenset({EventKind.NOTIFICATION_SENT, EventKind.NOTIFICATION_FAILED})
_CHANNEL_NAMES = {"pagerduty": "PagerDuty", "slack": "Slack"}


def deliveries(events: Sequence[TimelineEvent]) -> list[str]:
    """One line per channel and target: what was sent there, in order, and what failed."""
    by_target: dict[tuple[str, str], dict[str, str]] = {}
    for event in events:
        receipt = event_payloads.read(event.data, DeliveryReceipt) if event.kind in _DELIVERY_KINDS else None
        if receipt is None:
            continue
        kinds = by_target.setdefault((receipt.channel, receipt.target), {})
        kind = receipt.kind
        if event.kind == EventKind.NOTIFICATION_SENT:
            kinds[kind] = f"{kind} sent `{event.at:%H:%M}`"
        else:
            kinds[kind] = f"{kind} *FAILED* `{event.at:%H:%M}`: {escape((receipt.error or '')[:120])}"
    return [
        f"• {_CHANNEL_NAMES.get(channel, escape(channel))} {escape(target)}: {', '.join(kinds.values())}"
        for (channel, target), kinds in by_target.items()
    ]


def show_reply(incident: Incident, events: Sequence[TimelineEvent], public_url: str, now: datetime) -> Reply:
    facts = [
        f"status *{incident.status.value}*",
        f"opened {ago(incident.created_at, now)} by {escape(incident.created_by)}",
        f"owner {person(incident.assignee) if incident.assignee else '_nobody_'}",
    ]
    labels = ", ".join(f"{escape(k)}={escape(v)}" for k, v in sorted(incident.labels.items()))
    lines = [headline(incident), " · ".join(facts)]
    if labels:
        lines.append(f"labels: {labels}")
    story = [e for e in events if e.kind not in _DELIVERY_KINDS]
    shown = story[-SHOWN_EVENTS:]
    if len(story) > len(shown):
        lines.append(f"_last {len(shown)} of {len(story)} events_")
    lines += [_event_line(e) for e in shown]
    sent = deliveries(events)
    if sent:
        lines += ["*Notifications*", *sent]
    lines.append(f"<{incident_page_url(public_url, incident.id)}|details>")
    text = "\n".join(lines)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]
    if incident.status.is_open:
        blocks.append(buttons(incident))
    return Reply(text, "ephemeral", tuple(blocks))


def already_acknowledged(incident: Incident, events: Sequence[TimelineEvent], now: datetime) -> Reply:
    """`INC-7 was already acknowledged by @alice 4m ago`: who has it, so nobody acks it twice."""
    acked = next((e for e in reversed(events) if e.kind == "acknowledged"), None)
    who = escape(acked.actor.split(" (")[0]) if acked else "someone"
    when = ago(acked.at if acked else incident.acknowledged_at or incident.updated_at, now)
    return Reply(f":eyes: *{incident.human_id}* was already acknowledged by {who} {when}")


def list_reply(incidents: Sequence[Incident], what: str, limit: int, now: datetime) -> Reply:
    if not incidents:
        return Reply(f"No {what} incidents.")
    shown = incidents[:limit]
    lines = [f"*{what.capitalize()} incidents*, newest first:"]
    for incident in shown:
        owner = f" · {person(incident.assignee)}" if incident.assignee else ""
        lines.append(
            f"{headline(incident)} · {incident.status.value} · {ago(incident.created_at, now)}{owner}"
        )
    if len(incidents) > limit:
        lines.append(f"_showing the newest {limit}; narrow with a severity, e.g. `list P1`_")
    return Reply("\n".join(lines))

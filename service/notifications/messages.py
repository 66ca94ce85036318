"""What people read: PagerDuty event bodies, Slack Block Kit messages and one-line change notes.

Pure functions over plain dicts, so the outbox row holds exactly what will be
sent (minus secrets) and a retry days later says what was true when it was queued.
"""

from __future__ import annotations

import hashlib
from typing import Any

from service.domain.incidents import Incident, TimelineEvent, incident_page_url
from service.domain.severity import Severity
from service.notifications.channels.slack.buttons import actions_block

PD_SEVERITY = {Severity.P0: "critical", Severity.P1: "error", Severity.P2: "warning", Severity.P3: "info"}
SEVERITY_EMOJI = {"P0": ":red_circle:", "P1": ":large_orange_circle:", "P2": ":large_yellow_circle:"}
STATUS_EMOJI = {
    "triggered": ":rotating_light:",
    "acknowledged": ":eyes:",
    "mitigated": ":adhesive_bandage:",
    "resolved": ":white_check_mark:",
}
_BREACH_KEYS = (
    "rule",
    "value",
    "threshold",
    "value_text",
    "threshold_text",
    "unit",
    "runbook",
    "summary",
    "level",
)
PD_DEDUP_MAX = 255
PD_SUMMARY_MAX = 1024


def pagerduty_dedup_key(incident: Incident) -> str:
    """Our dedup key, unless longer than PagerDuty's 255 characters: then a stable digest of it."""
    if len(incident.dedup_key) <= PD_DEDUP_MAX:
        return incident.dedup_key
    return "incidentd-" + hashlib.sha256(incident.dedup_key.encode()).hexdigest()[:40]


def breach_from_events(events: list[TimelineEvent]) -> dict[str, Any]:
    """What breached: the declared details, with value/level refreshed by later alert events."""
    breach: dict[str, Any] = {}
    for event in events:
        if event.kind in {"declared", "attached", "alert_firing", "alert_level_changed"}:
            breach.update({k: event.data[k] for k in _BREACH_KEYS if event.data.get(k) is not None})
    return breach


def _number(value: Any, unit: str) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    if not unit or unit == "ratio":
        return text
    return f"{text}{unit}" if unit in {"%", "s", "ms"} else f"{text} {unit}"


def breach_text(title: str, breach: dict[str, Any]) -> str:
    """`checkout error rate: 4.2% vs threshold 1%`, or the title when no rule gave numbers."""
    head = str(breach.get("summary") or breach.get("rule") or title)
    if breach.get("value_text") and breach.get("threshold_text"):
        return f"{head}: {breach['value_text']} vs threshold {breach['threshold_text']}"
    if "value" in breach and "threshold" in breach:
        unit = str(breach.get("unit") or "")
        return f"{head}: {_number(breach['value'], unit)} vs threshold {_number(breach['threshold'], unit)}"
    return head


def snapshot(incident: Incident, breach: dict[str, Any], public_url: str) -> dict[str, Any]:
    return {
        "incident_id": incident.id,
        "human_id": incident.human_id,
        "title": incident.title,
        "severity": incident.severity.label,
        "status": incident.status.value,
        "assignee": incident.assignee,
        "labels": dict(incident.labels),
        "breach": breach_text(incident.title, breach),
        "runbook": breach.get("runbook"),
        "url": incident_page_url(public_url, incident.id),
    }


def pagerduty_trigger(snap: dict[str, Any], dedup_key: str, severity: Severity) -> dict[str, Any]:
    summary = f"[{snap['severity']}] {snap['human_id']} {snap['breach']}"
    if snap["breach"] != snap["title"]:
        summary += f" ({snap['title']})"
    details: dict[str, Any] = {"incident": snap["human_id"], "labels": snap["labels"]}
    links = [{"href": snap["url"], "text": f"{snap['human_id']} in incidentd"}]
    if snap.get("runbook"):
        details["runbook"] = snap["runbook"]
        links.append({"href": snap["runbook"], "text": "Runbook"})
    return {
        "dedup_key": dedup_key,
        "summary": summary[:PD_SUMMARY_MAX],
        "source": str(snap["labels"].get("service") or "incidentd"),
        "severity": PD_SEVERITY[severity],
        "custom_details": details,
        "links": links,
    }


def slack_blocks(snap: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and Block Kit blocks for an incident's one message."""
    status = snap["status"]
    sev = snap["severity"]
    head = f"{SEVERITY_EMOJI.get(sev, ':white_circle:')} *{sev}* {snap['human_id']}: {snap['title']}"
    fields = [
        {"type": "mrkdwn", "text": f"*Status*\n{STATUS_EMOJI.get(status, '')} {status}"},
        {"type": "mrkdwn", "text": f"*Severity*\n{sev}"},
    ]
    if snap.get("assignee"):
        fields.append({"type": "mrkdwn", "text": f"*Assignee*\n{snap['assignee']}"})
    links = f"<{snap['url']}|Open {snap['human_id']}>"
    if snap.get("runbook"):
        links += f"  ·  <{snap['runbook']}|Runbook>"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head}},
        {"type": "section", "text": {"type": "mrkdwn", "text": snap["breach"]}, "fields": fields},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": links}]},
    ]
    actions = actions_block(int(snap["incident_id"]), status)
    if actions is not None:
        blocks.append(actions)
    text = f"[{sev}] {snap['human_id']} {status}: {snap['title']} ({snap['breach']})"
    return text, blocks


def storm_summary(channel: str, interval_seconds: float, snaps: list[dict[str, Any]]) -> str:
    lines = [
        f":thunder_cloud_and_rain: *Incident storm in {channel}*: {len(snaps)} new incidents in "
        f"{interval_seconds:g}s; one summary instead of {len(snaps)} posts (PagerDuty was paged for each)."
    ]
    lines += [f"• *{s['severity']}* <{s['url']}|{s['human_id']}> {s['title']}: {s['breach']}" for s in snaps]
    return "\n".join(lines)[:39000]


def change_line(event: TimelineEvent) -> str | None:
    """One line for the thread under the incident's message; None for events not worth a reply."""
    data = event.data
    who = f"{event.actor} ({event.source})"
    kind = event.kind
    if kind in {"acknowledged", "unacknowledged", "mitigated", "resolved", "reopened"}:
        note = f": {data['note']}" if data.get("note") else ""
        return f"{STATUS_EMOJI.get(data.get('to', ''), '')} {kind.capitalize()} by {who}{note}".strip()
    if kind in {"severity_raised", "severity_lowered"}:
        verb = "raised" if kind == "severity_raised" else "lowered"
        reason = f" ({data['reason']})" if data.get("reason") else ""
        return f"Severity {verb} {data.get('from')} → {data.get('to')} by {who}{reason}"
    if kind == "retriggered":
        return f":rotating_light: Firing again ({who})"
    if kind == "assigned":
        return f"Assigned to {data.get('to')} by {who}"
    if kind == "note":
        return f":memo: {who}: {data.get('text', '')}"
    if kind == "escalated":
        targets = data.get("targets") or {}
        mentions = " ".join(_mention(str(u)) for u in targets.get("slack_users") or [])
        level = data.get("level_name") or f"level {data.get('level')}"
        reason = str(data.get("reason", "")).replace("_", " ")
        return f":arrow_double_up: Escalated to {level} ({reason}) {mentions}".strip()
    if kind == "escalation_exhausted":
        return ":warning: Escalation exhausted: nobody acknowledged at any level"
    return None


def _mention(user: str) -> str:
    """`<@U123>` notifies a Slack user by id; a policy naming `@tech-lead` is shown as written."""
    bare = user.lstrip("@")
    if bare[:1] in {"U", "W"} and bare.isalnum() and bare.isupper():
        return f"<@{bare}>"
    return f"@{bare}"

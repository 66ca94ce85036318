"""What people read: PagerDuty event bodies, Slack Block Kit messages and one-line change notes.

Pure functions over the plain snapshot (snapshots.py), so the outbox row holds exactly
what will be sent (minus secrets). Every piece of outside text (titles, labels, values,
notes, runbook text, actor names) goes through slack_text.escape for Slack and
slack_text.one_line for PagerDuty; only our own literals, links and mentions are markup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from service.domain import event_payloads
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import Assigned, Note, SeverityChanged, Silenced, StatusChanged
from service.domain.incidents import Incident, TimelineEvent
from service.domain.severity import Severity
from service.notifications.channels.slack.buttons import actions_block
from service.notifications.channels.slack.text import TargetName, escape, link, one_line

PD_SEVERITY = {Severity.P0: "critical", Severity.P1: "error", Severity.P2: "warning", Severity.P3: "info"}
SEVERITY_EMOJI = {"P0": ":red_circle:", "P1": ":large_orange_circle:", "P2": ":large_yellow_circle:"}
STATUS_EMOJI = {
    "triggered": ":rotating_light:",
    "acknowledged": ":eyes:",
    "mitigated": ":adhesive_bandage:",
    "resolved": ":white_check_mark:",
}
PD_DEDUP_MAX = 255
PD_SUMMARY_MAX = 1024
PD_FIELD_MAX = 255


def pagerduty_dedup_key(incident: Incident) -> str:
    """Our dedup key, unless longer than PagerDuty's 255 characters: then a stable digest of it."""
    if len(incident.dedup_key) <= PD_DEDUP_MAX:
        return incident.dedup_key
    return "incidentd-" + hashlib.sha256(incident.dedup_key.encode()).hexdigest()[:40]


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis, never inside a word."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"


def headline_text(snap: Mapping[str, Any]) -> str:
    """`P1 INC-1: Error rate high on app: 15% of requests fail (critical: above 10%)`, plain text."""
    text = f"{snap['severity']} {snap['human_id']}: {one_line(snap['title'])}"
    state = one_line(snap.get("state") or "")
    if state and state != one_line(snap["title"]):
        text += f": {state}"
    return text


def pagerduty_trigger(snap: Mapping[str, Any], dedup_key: str, severity: Severity) -> dict[str, Any]:
    """An Events v2 trigger: payload fields as documented, links only where they are URLs."""
    details: dict[str, Any] = {
        "incident": snap["human_id"],
        "title": one_line(snap["title"]),
        "status": snap["status"],
        "current": one_line(snap.get("state") or ""),
        "labels": {one_line(k): one_line(v) for k, v in (snap.get("labels") or {}).items()},
    }
    alerts = snap.get("alerts") or []
    if alerts:
        details["alerts"] = [{k: v for k, v in a.items() if v not in (None, "")} for a in alerts]
    if snap.get("runbook"):
        details["runbook"] = one_line(snap["runbook"])
    links = [{"href": snap["url"], "text": f"{snap['human_id']} in incidentd"}]
    if snap.get("runbook_url"):
        links.append({"href": snap["runbook_url"], "text": "Runbook"})
    if snap.get("slack_url"):
        links.append({"href": snap["slack_url"], "text": "Slack thread"})
    payload: dict[str, Any] = {"timestamp": snap.get("started_at")}
    for key in ("component", "group", "class"):
        if snap.get(key):
            payload[key] = shorten(one_line(snap[key]), PD_FIELD_MAX)
    return {
        "dedup_key": dedup_key,
        "summary": shorten(headline_text(snap), PD_SUMMARY_MAX),
        "source": shorten(one_line(snap.get("source") or "incidentd"), PD_FIELD_MAX),
        "severity": PD_SEVERITY[severity],
        "payload": {k: v for k, v in payload.items() if v},
        "custom_details": details,
        "links": links,
    }


def slack_blocks(snap: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and Block Kit blocks for an incident's one message, updated in place."""
    status = snap["status"]
    sev = snap["severity"]
    head = (
        f"{SEVERITY_EMOJI.get(sev, ':white_circle:')} *{sev}* · *{snap['human_id']}* {escape(snap['title'])}"
    )
    holder = snap.get("holder") or snap.get("assignee")
    fields = [
        {"type": "mrkdwn", "text": f"*Status*\n{STATUS_EMOJI.get(status, '')} {escape(status)}"},
        {"type": "mrkdwn", "text": f"*Who has it*\n{escape(holder) if holder else '_nobody yet_'}"},
    ]
    state = snap.get("state") or ""
    body: dict[str, Any] = {"type": "section", "fields": fields}
    if state:
        body["text"] = {"type": "mrkdwn", "text": f"*Now:* {escape(state)}"[:3000]}
    links = link(snap["url"], f"Open {snap['human_id']}")
    if snap.get("runbook_url"):
        links += "  ·  " + link(snap["runbook_url"], "Runbook")
    elif snap.get("runbook"):
        links += f"  ·  Runbook: {escape(snap['runbook'])}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head[:3000]}},
        body,
        {"type": "context", "elements": [{"type": "mrkdwn", "text": links[:3000]}]},
    ]
    actions = actions_block(int(snap["incident_id"]), status)
    if actions is not None:
        blocks.append(actions)
    text = f"{sev} {snap['human_id']} {status}: {escape(snap['title'])}"
    if state:
        text += f": {escape(state)}"
    return shorten(text, 3000), blocks


def _who(event: TimelineEvent) -> str:
    """`@alice` for a Slack user (not the `(U123)` that follows), `rules`, `escalation`, `bob (api)`."""
    if event.source in {"rules", "escalation", "system"}:
        return escape(event.actor)
    name = event.actor.split(" (")[0] if event.source == "slack" else event.actor
    suffix = "" if event.source == "slack" else f" ({escape(event.source)})"
    return f"{escape(name)}{suffix}"


Mentions = Mapping[TargetName, str]


def change_line(event: TimelineEvent, mentions: Mentions | None = None) -> str | None:
    """One line for the thread under the incident's message; None for events not worth a reply.

    `mentions` maps an escalation target as the policy names it (`oncall`, `@tech-lead`) to the
    Slack mention resolved for it; a name missing there is shown as text with a warning.
    """
    data = event.data
    who = _who(event)
    kind = event.kind
    told = event_payloads.decode(kind, data)
    if isinstance(told, StatusChanged):
        note = f": {escape(told.note)}" if told.note else ""
        reason = f" ({escape(told.reason)})" if told.reason and not note else ""
        icon = STATUS_EMOJI.get(told.to, "")
        return f"{icon} {kind.capitalize()} by {who}{reason}{note}".strip()
    if isinstance(told, SeverityChanged):
        verb = "raised" if kind == EventKind.SEVERITY_RAISED else "lowered"
        reason = f" ({escape(told.reason)})" if told.reason else ""
        line = f"Severity {verb} {escape(told.from_)} → {escape(told.to)} by {who}{reason}"
        summary = data.get("summary")  # an alert's, kept flat beside a raise the rules made
        if summary and isinstance(summary, str) and event.source == "rules":
            line += f": {escape(summary)}"
        return line
    if kind == EventKind.RETRIGGERED:
        return f":rotating_light: Firing again ({who})"
    if isinstance(told, Assigned):
        return f"Assigned to {escape(told.to)} by {who}"
    if isinstance(told, Note):
        return f":memo: {who}: {escape(told.text)}"
    if kind == "escalated":
        return _escalated_line(data, mentions or {})
    if kind == "escalation_exhausted":
        return ":warning: Escalation exhausted: nobody acknowledged at any level"
    if kind == EventKind.SILENCED:
        reasons = ", ".join(told.reasons or []) if isinstance(told, Silenced) else ""
        reasons = reasons or "a mute"
        return f":mute: Every firing alert is muted ({reasons}): escalation paused"
    if kind == "unsilenced":
        return ":loud_sound: Mute ended while alerts still fire: escalation resumes"
    if kind == "action_item_due":
        return followup_reminder_line(data)
    return None


def followup_notice_text(payload: Mapping[str, Any]) -> str:
    """The same reminder as a message of its own, for an incident that has no Slack thread."""
    incident = link(
        str(payload.get("url") or ""), f"{payload.get('incident')} {payload.get('incident_title')}"
    )
    return f"{followup_reminder_line(payload)} (incident {incident}, not posted to Slack before)"[:39000]


def followup_reminder_line(data: Mapping[str, Any]) -> str:
    """A due or overdue action item, in the incident's thread. The owner is named, never pinged: the
    text can come from the API, and only mentions we resolved ourselves may notify anyone."""
    when = "is overdue" if data.get("stage") == "overdue" else "is due today"
    owner = escape(data.get("owner") or "") or "nobody yet"
    return (
        f":alarm_clock: Follow-up *{escape(data.get('item'))}* {when} (due {escape(data.get('due'))}):"
        f" {escape(data.get('title'))}. Owner: {owner}"
    )


def escalation_names(data: Mapping[str, Any]) -> list[TargetName]:
    """The Slack people an `escalated` event names, as the policy spells them (groups, then users)."""
    targets = data.get("targets") or {}
    groups: list[TargetName] = [("usergroup", str(g)) for g in targets.get("slack_usergroups") or []]
    users: list[TargetName] = [("user", str(u)) for u in targets.get("slack_users") or []]
    return groups + users


def _escalated_line(data: Mapping[str, Any], mentions: Mentions) -> str:
    level = escape(data.get("level_name") or f"level {data.get('level')}")
    reason = escape(str(data.get("reason", "")).replace("_", " "))
    names = escalation_names(data)
    found = [mentions[n] for n in names if n in mentions]
    missing = [n for n in names if n not in mentions]
    line = f":arrow_double_up: Escalated to {level} ({reason})"
    if found:
        line += ": " + " ".join(found)
    if missing:
        shown = ", ".join(f"@{escape(n.lstrip('@'))}" for _, n in missing)
        line += f" :warning: not found in Slack, nobody was mentioned for: {shown}"
    return line

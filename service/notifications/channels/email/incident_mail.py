"""An incident's change as an email: subject, plain text and HTML, from the channel-neutral payload.

Pure. The subject stays the same through the incident's life (mail clients thread on it as
well as on References); what changed is the first thing in the body.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from service.notifications.payloads import IncidentEvent

_VERBS = {
    "declared": "opened",
    "acknowledged": "acknowledged",
    "unacknowledged": "acknowledgement withdrawn",
    "mitigated": "mitigated",
    "resolved": "resolved",
    "reopened": "reopened",
    "retriggered": "fired again",
    "severity_raised": "severity raised",
    "severity_lowered": "severity lowered",
    "assigned": "assigned",
    "retitled": "retitled",
    "note": "note",
}


def subject(snapshot: dict[str, Any]) -> str:
    return f"[{snapshot.get('severity', '?')}] {snapshot.get('human_id', '')}: {snapshot.get('title', '')}"


def _when(value: object) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return str(value)


def event_line(event: dict[str, Any]) -> str:
    kind = str(event.get("kind", ""))
    data = event.get("data") or {}
    if kind == "escalated":
        what = f"escalated to level {data.get('level')} ({data.get('level_name') or 'unnamed'})"
    elif kind in {"severity_raised", "severity_lowered"}:
        what = f"{_VERBS[kind]} {data.get('from', '?')} → {data.get('to', '?')}"
    elif kind == "assigned":
        what = f"assigned to {data.get('assignee') or data.get('to') or 'nobody'}"
    elif kind == "note":
        what = f"note: {data.get('text', '')}"
    else:
        what = _VERBS.get(kind, kind.replace("_", " "))
        if data.get("note"):
            what += f": {data['note']}"
    actor = event.get("actor")
    return f"{_when(event.get('at'))}  {what}" + (f" (by {actor})" if actor else "")


def render(payload: IncidentEvent) -> tuple[str, str, str]:
    """(subject, text, html) for one change of an incident."""
    snap = payload.snapshot
    lines = [event_line(e) for e in payload.events]
    head = f"{snap.get('human_id', '')} · {snap.get('severity', '')} · {snap.get('status', '')}"
    text_parts = [head, str(snap.get("title", "")), "", *lines, ""]
    if snap.get("state"):
        text_parts.append(f"Now: {snap['state']}")
    if snap.get("holder") or snap.get("assignee"):
        text_parts.append(f"Held by: {snap.get('holder') or snap.get('assignee')}")
    if snap.get("runbook"):
        text_parts.append(f"Runbook: {snap['runbook']}")
    text_parts.append(f"Open it: {snap.get('url', '')}")
    text = "\n".join(text_parts) + "\n"
    e = html.escape
    items = "".join(f"<li>{e(line)}</li>" for line in lines)
    facts = "".join(
        f'<tr><th align="left">{e(label)}</th><td>{e(str(value))}</td></tr>'
        for label, value in (
            ("Now", snap.get("state")),
            ("Held by", snap.get("holder") or snap.get("assignee")),
            ("Runbook", snap.get("runbook")),
        )
        if value
    )
    url = str(snap.get("url", ""))
    markup = (
        f"<h2>{e(head)}</h2><p><strong>{e(str(snap.get('title', '')))}</strong></p>"
        f"<ul>{items}</ul><table>{facts}</table>"
        f'<p><a href="{e(url)}">Open {e(str(snap.get("human_id", "the incident")))} in incidentd</a></p>'
    )
    return subject(snap), text, markup

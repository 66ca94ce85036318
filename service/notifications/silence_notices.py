"""The Slack notice for a silence or maintenance window that started or ended: pure, escaped for mrkdwn."""

from __future__ import annotations

from typing import Any

from service.notifications.channels.slack.text import code, escape


def notice_text(payload: dict[str, Any]) -> str:
    what = "Maintenance window" if payload.get("what") == "window" else "Silence"
    name = code(payload.get("name") or payload.get("id", ""))
    matchers = code(payload.get("matchers") or "every alert")
    if payload.get("event") == "started":
        until = escape(payload.get("ends_at", ""))
        who = escape(payload.get("created_by", ""))
        comment = f": {escape(payload['comment'])}" if payload.get("comment") else ""
        return f":mute: {what} {name} by {who} mutes {matchers} until {until}{comment}"
    early = payload.get("expired_by")
    how = f"ended early by {escape(early)}" if early else "ended"
    return f":loud_sound: {what} {name} {how}: {matchers} pages again"[:39000]

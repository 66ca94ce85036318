"""The Slack notice for a silence or maintenance window that started or ended: pure, escaped for mrkdwn."""

from __future__ import annotations

from typing import Any


def _plain(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notice_text(payload: dict[str, Any]) -> str:
    what = "Maintenance window" if payload.get("what") == "window" else "Silence"
    name = _plain(payload.get("name") or payload.get("id", ""))
    matchers = _plain(payload.get("matchers") or "every alert")
    if payload.get("event") == "started":
        until = _plain(payload.get("ends_at", ""))
        who = _plain(payload.get("created_by", ""))
        comment = f": {_plain(payload['comment'])}" if payload.get("comment") else ""
        return f":mute: {what} `{name}` by {who} mutes `{matchers}` until {until}{comment}"
    early = payload.get("expired_by")
    how = f"ended early by {_plain(early)}" if early else "ended"
    return f":loud_sound: {what} `{name}` {how}: `{matchers}` pages again"[:39000]

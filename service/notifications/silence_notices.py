"""The Slack notice for a silence or maintenance window that started or ended: pure, escaped for mrkdwn."""

from __future__ import annotations

from typing import Any

from service.notifications.channels.slack.text import code, escape
from service.notifications.messages import followup_notice_text


def window_text(payload: dict[str, Any]) -> str:
    """A maintenance window opening, about to close (ad-hoc ones), or closed."""
    name = code(payload.get("name", ""))
    which = f"alerts matching {code(payload['matchers'])}" if payload.get("matchers") else "all alerts"
    until = escape(payload.get("ends_at", ""))
    event = payload.get("event")
    if event == "started":
        owner = escape(payload.get("created_by", ""))
        started = f":construction: Maintenance window {name} (owner {owner}) started"
        return f"{started}: {which} are muted until {until}"
    if event == "ending_soon":
        return (
            f":hourglass_flowing_sand: Maintenance window {name} ends in 15 minutes, at {until}: "
            f"{which} that still fire then will page"
        )
    return f":loud_sound: Maintenance window {name} ended: {which} page again; those still firing page now"


def notice_text(payload: dict[str, Any]) -> str:
    if payload.get("what") == "window":
        return window_text(payload)[:39000]
    if payload.get("what") == "followup":
        return followup_notice_text(payload)
    what = "Silence"
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

"""Which texts are links, and Slack message permalinks: shared by Slack messages, PagerDuty and the RCA."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["is_url", "message_link"]


def is_url(text: object) -> bool:
    """Only http(s) addresses with a host are links; `004_…txt, Scaling Procedures` is not."""
    if not isinstance(text, str) or any(c.isspace() for c in text.strip()):
        return False
    parts = urlsplit(text.strip())
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def message_link(workspace_url: str, channel_id: str, ts: str) -> str:
    """A message's permalink as Slack forms them (`…/archives/C123/p1700000000123456`); empty when unknown."""
    if not is_url(workspace_url) or not channel_id or not ts:
        return ""
    return f"{workspace_url.rstrip('/')}/archives/{channel_id}/p{ts.replace('.', '')}"

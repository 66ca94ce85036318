"""How one delivery attempt ended, in the sender's terms rather than each SDK's."""

from __future__ import annotations

import re
from collections.abc import Iterable

from service.observability import scrub_text


class DeliveryError(Exception):
    """A send failed. `retry` says whether trying again can help; `retry_after` comes from a 429."""

    def __init__(self, message: str, *, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after


class NotConfigured(Exception):
    """No credentials for this channel or routing key: the intent is held, not dropped."""


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, min(seconds, 3600.0))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Errors are stored and shown in the API: strip every configured secret and token shape."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = re.sub(r"[A-Za-z0-9]{32}", lambda m: m.group(0)[:4] + "***", text)
    return scrub_text(text)[:500]

"""Hold: an intent whose channel has no credentials (or no plug-in) waits, visibly, instead of failing.

Held rows show their reason in the API; once the credentials exist (a restart with the
environment fixed) they are released in their original order.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import structlog

from service.notifications import store
from service.notifications.metrics import SENDS
from service.notifications.notifier import Notifiers

log = structlog.get_logger(__name__)


async def hold(conn: asyncpg.Connection, channel: str, scope: str | None, reason: str) -> int:
    """Hold every pending intent of `channel` (for `scope`, one target, or all when None)."""
    held = await store.hold_channel(conn, channel, scope, reason)
    SENDS.labels(channel=channel, outcome="held").inc(held)
    log.warning("notification_held", channel=channel, target=scope, reason=reason, count=held)
    return held


def unknown_channel(channel: str) -> str:
    return f"no channel plug-in named {channel!r} is registered"


async def release_held(conn: asyncpg.Connection, notifiers: Notifiers, now: datetime) -> int:
    """Release held intents whose channel is registered and whose target has credentials now."""
    released = 0
    for channel, target in await store.held_targets(conn):
        if channel in notifiers and notifiers[channel].ready(target):
            released += await store.release(conn, channel, target, now)
    if released:
        log.info("notifications_released", count=released)
    return released

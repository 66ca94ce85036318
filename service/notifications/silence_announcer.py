"""Tells Slack when a silence starts or ends (early or not), whoever made it: amtool, the API or Slack;
the same beat tells it about maintenance windows (window_announcer.py).

Each silence row is claimed once across replicas (FOR UPDATE SKIP LOCKED plus its announced_*
flags) and its notice is queued in the outbox in the same transaction, so it is posted once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from service.adapters.postgres.database import Database, DatabaseUnavailable
from service.clock import Clock
from service.domain.maintenance_windows import RecurringWindow
from service.domain.silence_matchers import render
from service.domain.silences import Silence
from service.notifications.outbox import enqueue
from service.notifications.window_announcer import announce_windows_once
from service.silences import store
from service.supervisor import sleep_or_stop

ANNOUNCE_EVERY = 2.0


def notice(event: str, silence: Silence) -> dict[str, Any]:
    return {
        "what": "silence",
        "event": event,
        "id": silence.id,
        "matchers": render(silence.matchers),
        "created_by": silence.created_by,
        "comment": silence.comment,
        "ends_at": silence.ends_at.strftime("%Y-%m-%d %H:%M UTC"),
        "expired_by": silence.expired_by,
    }


async def announce_once(db: Database, clock: Clock, channels: Sequence[str]) -> int:
    now = clock()
    async with db.transaction() as conn:
        found = await store.to_announce(conn, now)
        for event, silence in found:
            for channel in channels:
                await enqueue(
                    conn,
                    incident_id=None,
                    channel="slack",
                    kind="notice",
                    target=channel,
                    payload=notice(event, silence),
                    now=now,
                )
    return len(found)


async def announce(
    stop: asyncio.Event,
    db: Database,
    clock: Clock,
    channels: Sequence[str],
    recurring: Sequence[RecurringWindow] = (),
) -> None:
    """Silences and maintenance windows (recurring ones from policy, one-off ones from the database)."""
    while not stop.is_set():
        with contextlib.suppress(DatabaseUnavailable):  # readiness shows it; the next beat tries again
            await announce_once(db, clock, channels)
            await announce_windows_once(db, clock, channels, recurring)
        await sleep_or_stop(stop, ANNOUNCE_EVERY)

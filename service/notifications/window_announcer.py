"""Tells Slack when a maintenance window starts and ends, and warns 15 minutes before an ad-hoc one ends.

Each occurrence of a window is a row in maintenance_notices (migration 021), written in the
same transaction as its outbox notice: the start is an INSERT that a second replica's
identical INSERT finds done (ON CONFLICT DO NOTHING), the warning and the end are UPDATEs
whose WHERE a second replica finds no longer true once the first has committed. So each
notice is queued exactly once however many replicas beat, and a replica killed mid-way
leaves either both the row and the notice or neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from service.adapters.postgres.database import Database
from service.clock import Clock
from service.domain.maintenance_windows import OneOffWindow, RecurringWindow
from service.domain.silence_matchers import render
from service.notifications.outbox import enqueue
from service.silences import store
from service.silences.snapshot import one_off

WARN_BEFORE = timedelta(minutes=15)
SHOWN = "%Y-%m-%d %H:%M UTC"


class Occurrence(msgspec.Struct, frozen=True, kw_only=True):
    """One opening of a window: a recurring window's occurrence is named by its end, a one-off's by its
    start (it has one)."""

    key: str
    occurrence: datetime
    name: str
    matchers: str
    owner: str
    starts_at: datetime
    ends_at: datetime
    adhoc: bool


def open_occurrences(
    recurring: Sequence[RecurringWindow], one_offs: Sequence[OneOffWindow], now: datetime
) -> list[Occurrence]:
    found: list[Occurrence] = []
    for w in recurring:
        ends = w.ends_at(now)
        if ends is not None:
            found.append(
                Occurrence(
                    key=f"recurring:{w.name}",
                    occurrence=ends,
                    name=w.name,
                    matchers=render(w.matchers) if w.matchers else "",
                    owner=w.owner,
                    starts_at=now,
                    ends_at=ends,
                    adhoc=False,
                )
            )
    found.extend(
        Occurrence(
            key=f"one-off:{w.id}",
            occurrence=w.starts_at,
            name=w.name,
            matchers=render(w.matchers) if w.matchers else "",
            owner=w.owner,
            starts_at=w.starts_at,
            ends_at=w.ends_at,
            adhoc=True,
        )
        for w in one_offs
        if w.starts_at <= now < w.ends_at
    )
    return found


def window_notice(event: str, row: Any) -> dict[str, Any]:
    return {
        "what": "window",
        "event": event,
        "name": row["name"],
        "matchers": row["matchers"],
        "created_by": row["owner"],
        "ends_at": row["ends_at"].strftime(SHOWN),
        "kind": "one-off" if row["adhoc"] else "recurring",
    }


_START = """
INSERT INTO maintenance_notices (window_key, occurrence, name, matchers, owner, starts_at, ends_at, adhoc,
                                 started_at)
SELECT k, o, n, m, w, s, e, a, $9
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
            $7::timestamptz[], $8::boolean[]) AS t(k, o, n, m, w, s, e, a)
ON CONFLICT (window_key, occurrence) DO NOTHING
RETURNING name, matchers, owner, ends_at, adhoc
"""
# A one-off window moved by a person: its notices follow; extended past a warning, it is warned again.
_FOLLOW = """
UPDATE maintenance_notices n
SET ends_at = w.ends_at, warned_at = CASE WHEN w.ends_at > n.ends_at THEN NULL ELSE n.warned_at END
FROM maintenance_windows w
WHERE n.adhoc AND n.ended_at IS NULL AND n.window_key = 'one-off:' || w.id::text AND n.ends_at <> w.ends_at
"""
_WARN = """
UPDATE maintenance_notices SET warned_at = $1
WHERE adhoc AND warned_at IS NULL AND ended_at IS NULL AND ends_at > $1 AND ends_at <= $1 + $2
  AND ends_at - starts_at > $2
RETURNING name, matchers, owner, ends_at, adhoc
"""
_END = """
UPDATE maintenance_notices SET ended_at = $1 WHERE ended_at IS NULL AND ends_at <= $1
RETURNING name, matchers, owner, ends_at, adhoc
"""


async def _claim(
    conn: asyncpg.Connection, opened: Sequence[Occurrence], now: datetime
) -> list[tuple[str, Any]]:
    started = await conn.fetch(
        _START,
        [o.key for o in opened],
        [o.occurrence for o in opened],
        [o.name for o in opened],
        [o.matchers for o in opened],
        [o.owner for o in opened],
        [o.starts_at for o in opened],
        [o.ends_at for o in opened],
        [o.adhoc for o in opened],
        now,
    )
    await conn.execute(_FOLLOW)
    warned = await conn.fetch(_WARN, now, WARN_BEFORE)
    ended = await conn.fetch(_END, now)
    return [
        *(("started", r) for r in started),
        *(("ending_soon", r) for r in warned),
        *(("ended", r) for r in ended),
    ]


async def announce_windows_once(
    db: Database, clock: Clock, channels: Sequence[str], recurring: Sequence[RecurringWindow]
) -> int:
    """Queue the notices due now; how many events were claimed (each goes to every channel)."""
    now = clock()
    async with db.transaction() as conn:
        opened = open_occurrences(recurring, one_off(await store.windows_between(conn, now, now)), now)
        events = await _claim(conn, opened, now)
        for event, row in events:
            for channel in channels:
                await enqueue(
                    conn,
                    incident_id=None,
                    channel="slack",
                    kind="notice",
                    target=channel,
                    payload=window_notice(event, row),
                    now=now,
                )
    return len(events)

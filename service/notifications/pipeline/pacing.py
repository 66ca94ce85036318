"""Pace: take a token from the (channel, target) bucket in PostgreSQL before calling the provider.

The bucket row is read and written in a short transaction of its own (committed before the
send, so a slow send never holds it); its `blocked_until` lets every replica's claim skip a
target that has no token or is paused by `Retry-After`.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from service.adapters.postgres.database import Database
from service.domain import delivery_pacing
from service.domain.delivery_pacing import Bucket, Take
from service.notifications.notifier import Pacing


class SharedPacing:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def take(self, channel: str, target: str, pacing: Pacing, now: datetime) -> Take:
        async with self._db.transaction() as conn:
            bucket = await _locked(conn, channel, target, pacing.burst, now)
            taken = delivery_pacing.take(bucket, rate=pacing.rate, burst=pacing.burst, now=now)
            await _save(conn, channel, target, taken.bucket, taken.blocked_until)
        return taken

    async def pause(self, channel: str, target: str, until: datetime, now: datetime, burst: float) -> None:
        async with self._db.transaction() as conn:
            bucket = delivery_pacing.pause(await _locked(conn, channel, target, burst, now), until)
            await _save(conn, channel, target, bucket, until, keep_later=True)


async def _locked(conn: asyncpg.Connection, channel: str, target: str, burst: float, now: datetime) -> Bucket:
    await conn.execute(
        "INSERT INTO notification_pacing (channel, target, tokens, refilled_at, blocked_until)"
        " VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING",
        channel,
        target,
        burst,
        now,
    )
    row = await conn.fetchrow(
        "SELECT tokens, refilled_at, paused_until FROM notification_pacing"
        " WHERE channel = $1 AND target = $2 FOR UPDATE",
        channel,
        target,
    )
    assert row is not None
    return Bucket(tokens=row["tokens"], refilled_at=row["refilled_at"], paused_until=row["paused_until"])


async def _save(
    conn: asyncpg.Connection,
    channel: str,
    target: str,
    bucket: Bucket,
    blocked_until: datetime,
    *,
    keep_later: bool = False,
) -> None:
    await conn.execute(
        "UPDATE notification_pacing SET tokens = $3, refilled_at = $4, paused_until = $5,"
        " blocked_until = CASE WHEN $7 THEN greatest(blocked_until, $6) ELSE $6 END"
        " WHERE channel = $1 AND target = $2",
        channel,
        target,
        bucket.tokens,
        bucket.refilled_at,
        bucket.paused_until,
        blocked_until,
        keep_later,
    )

"""SQL over the outbox for the sender and the API; each function runs in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

_COLUMNS = (
    "id, incident_id, channel, kind, target, payload, status, attempts, next_attempt_at, last_error,"
    " created_at, sent_at"
)


class OutboxRow(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    incident_id: int | None
    channel: str
    kind: str
    target: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def _row(record: asyncpg.Record) -> OutboxRow:
    return OutboxRow(**{k: record[k] for k in record.keys()})  # noqa: SIM118 - Record is not a dict


# Every (channel, target) with pending rows, by a loose index scan: cost follows the targets, not the rows.
_PENDING_TARGETS = """WITH RECURSIVE targets AS (
            (SELECT channel, target FROM notification_outbox WHERE status = 'pending'
             ORDER BY channel, target LIMIT 1)
            UNION ALL
            SELECT n.channel, n.target FROM targets t CROSS JOIN LATERAL (
                SELECT channel, target FROM notification_outbox
                WHERE status = 'pending' AND (channel, target) > (t.channel, t.target)
                ORDER BY channel, target LIMIT 1) n
        ),"""
# Within one target `t`, rows due at $1 whose predecessors (same incident and target) are done, oldest first.
_FIRST_DUE = """SELECT o.id FROM notification_outbox o
                WHERE o.status = 'pending' AND o.channel = t.channel AND o.target = t.target
                  AND o.next_attempt_at <= $1
                  AND NOT EXISTS (
                      SELECT 1 FROM notification_outbox p
                      WHERE p.incident_id = o.incident_id AND p.channel = o.channel
                        AND p.target = o.target AND p.id < o.id AND p.status IN ('pending', 'held'))
                ORDER BY o.next_attempt_at, o.id"""
# Per (channel, target), the few oldest due rows whose predecessors are done: enough candidates
# that the other senders' locked rows can be skipped. Paced or paused targets are never read.
_CANDIDATES_PER_TARGET = 8


async def claim(conn: asyncpg.Connection, now: datetime) -> OutboxRow | None:
    """Lock the oldest due intent whose predecessors (same incident, channel and target) are done.

    The row stays locked until the caller's transaction ends, i.e. for the whole send: other
    senders skip it, and if this process dies the lock goes with its connection and the row
    is simply due again. Targets are listed by a loose index scan (a handful of channels and
    routing keys), so the cost follows the number of targets, not the backlog behind them.
    A target whose shared pacing bucket is empty or paused (Retry-After) is skipped by every replica.
    """
    record = await conn.fetchrow(
        f"""
        {_PENDING_TARGETS}
        candidates AS (
            SELECT c.id FROM targets t CROSS JOIN LATERAL (
                {_FIRST_DUE}
                LIMIT {_CANDIDATES_PER_TARGET}) c
            WHERE NOT EXISTS (
                SELECT 1 FROM notification_pacing b
                WHERE b.channel = t.channel AND b.target = t.target AND b.blocked_until > $1)
        )
        SELECT {_COLUMNS} FROM notification_outbox
        WHERE id IN (SELECT id FROM candidates) AND status = 'pending'
        ORDER BY next_attempt_at, id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
        """,
        now,
    )
    return _row(record) if record is not None else None


async def due_heads(
    conn: asyncpg.Connection, now: datetime, limit: int, busy: Sequence[tuple[str, str]]
) -> list[OutboxRow]:
    """Up to `limit` due intents, the oldest eligible one of each target, read WITHOUT locking.

    One round trip feeds many sends at once after an outage. The channels take turns (oldest
    first within each), so a page never waits behind a backlog of Slack posts. Each is locked by
    `lock_head` in its own sending transaction, which re-checks it, so a row another
    replica took in between is skipped, never sent twice. `busy` targets (in flight in
    this process) and targets whose shared pacing bucket is empty or paused are left out.
    """
    records = await conn.fetch(
        f"""
        {_PENDING_TARGETS}
        heads AS (
            SELECT c.id FROM targets t CROSS JOIN LATERAL (
                {_FIRST_DUE}
                LIMIT 1) c
            WHERE (t.channel, t.target) NOT IN (SELECT * FROM unnest($3::text[], $4::text[]))
              AND NOT EXISTS (
                SELECT 1 FROM notification_pacing b
                WHERE b.channel = t.channel AND b.target = t.target AND b.blocked_until > $1)
        )
        SELECT {_COLUMNS} FROM (
            SELECT o.*, row_number() OVER (PARTITION BY o.channel ORDER BY o.next_attempt_at, o.id) AS turn
            FROM notification_outbox o WHERE o.id IN (SELECT id FROM heads)) ranked
        ORDER BY turn, next_attempt_at, id
        LIMIT $2
        """,
        now,
        limit,
        [c for c, _ in busy],
        [t for _, t in busy],
    )
    return [_row(r) for r in records]


async def lock_head(conn: asyncpg.Connection, row_id: int, now: datetime) -> OutboxRow | None:
    """Lock a row read by `due_heads` if it is still due, unlocked and first of its incident and target."""
    record = await conn.fetchrow(
        f"""
        SELECT {_COLUMNS} FROM notification_outbox o
        WHERE o.id = $1 AND o.status = 'pending' AND o.next_attempt_at <= $2
          AND NOT EXISTS (
              SELECT 1 FROM notification_outbox p
              WHERE p.incident_id = o.incident_id AND p.channel = o.channel
                AND p.target = o.target AND p.id < o.id AND p.status IN ('pending', 'held'))
        FOR UPDATE SKIP LOCKED
        """,
        row_id,
        now,
    )
    return _row(record) if record is not None else None


async def next_unblock(conn: asyncpg.Connection, now: datetime) -> datetime | None:
    """When the next paced or paused target gets a token: the time to look for due rows again."""
    at: datetime | None = await conn.fetchval(
        "SELECT min(blocked_until) FROM notification_pacing WHERE blocked_until > $1", now
    )
    return at


async def claim_followers(conn: asyncpg.Connection, head: OutboxRow, now: datetime) -> list[OutboxRow]:
    """Later Slack updates for the same incident and channel, coalesced into the head's send."""
    records = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM notification_outbox
        WHERE incident_id = $1 AND channel = 'slack' AND target = $2 AND kind = 'update'
          AND status = 'pending' AND id > $3 AND next_attempt_at <= $4
        ORDER BY id LIMIT 50
        FOR UPDATE SKIP LOCKED
        """,
        head.incident_id,
        head.target,
        head.id,
        now,
    )
    return [_row(r) for r in records]


async def claim_storm_members(conn: asyncpg.Connection, storm_key: str) -> list[OutboxRow]:
    records = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM notification_outbox
        WHERE payload ? 'storm_key' AND payload ->> 'storm_key' = $1 AND kind = 'post' AND status = 'pending'
        ORDER BY id FOR UPDATE SKIP LOCKED
        """,
        storm_key,
    )
    return [_row(r) for r in records]


async def record_attempt(conn: asyncpg.Connection, row_id: int, now: datetime) -> int:
    """Count one provider call about to start (autocommit, outside the sending transaction)."""
    started: int = await conn.fetchval(
        "INSERT INTO notification_attempts (outbox_id, attempts, first_at, last_at) VALUES ($1, 1, $2, $2)"
        " ON CONFLICT (outbox_id) DO UPDATE SET attempts = notification_attempts.attempts + 1,"
        " last_at = EXCLUDED.last_at RETURNING attempts",
        row_id,
        now,
    )
    return started


async def count_attempts(conn: asyncpg.Connection, row_id: int, attempts: int) -> None:
    await conn.execute("UPDATE notification_outbox SET attempts = $2 WHERE id = $1", row_id, attempts)


async def mark(
    conn: asyncpg.Connection, ids: Sequence[int], status: str, now: datetime, error: str | None = None
) -> None:
    await conn.execute(
        "UPDATE notification_outbox SET status = $2, sent_at = CASE WHEN $2 IN ('sent', 'coalesced')"
        " THEN $3 ELSE sent_at END, last_error = coalesce($4, last_error) WHERE id = ANY($1::bigint[])",
        list(ids),
        status,
        now,
        error,
    )


async def reschedule(conn: asyncpg.Connection, row_id: int, at: datetime, error: str) -> None:
    await conn.execute(
        "UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3"
        " WHERE id = $1",
        row_id,
        at,
        error,
    )


async def fail(conn: asyncpg.Connection, row_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE notification_outbox SET attempts = attempts + 1, status = 'dead', last_error = $2"
        " WHERE id = $1",
        row_id,
        error,
    )


async def hold_channel(conn: asyncpg.Connection, channel: str, target: str | None, reason: str) -> int:
    """Hold every pending intent that cannot go out for lack of credentials, so the API shows why."""
    result: str = await conn.execute(
        "UPDATE notification_outbox SET status = 'held', last_error = $3 WHERE id IN ("
        " SELECT id FROM notification_outbox WHERE status = 'pending' AND channel = $1"
        " AND ($2::text IS NULL OR target = $2) FOR UPDATE SKIP LOCKED)",
        channel,
        target,
        reason,
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def held_targets(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT DISTINCT channel, target FROM notification_outbox WHERE status = 'held' ORDER BY 1, 2"
    )
    return [(r["channel"], r["target"]) for r in rows]


async def release(conn: asyncpg.Connection, channel: str, target: str, now: datetime) -> int:
    result: str = await conn.execute(
        "UPDATE notification_outbox SET status = 'pending', next_attempt_at = $3"
        " WHERE status = 'held' AND channel = $1 AND target = $2",
        channel,
        target,
        now,
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def retry_backing_off(conn: asyncpg.Connection, channel: str, target: str, now: datetime) -> int:
    """A send to this target just went through: the intents waiting out a backoff for it are due now.

    Without this, a page that failed during an outage waits out its backoff (up to `backoff_max`)
    after the provider is back; the first success proves it is back for all of them."""
    result: str = await conn.execute(
        "UPDATE notification_outbox SET next_attempt_at = $3 WHERE id IN ("
        " SELECT id FROM notification_outbox WHERE status = 'pending' AND channel = $1 AND target = $2"
        " AND attempts > 0 AND next_attempt_at > $3 FOR UPDATE SKIP LOCKED)",
        channel,
        target,
        now,
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def retry_dead(conn: asyncpg.Connection, row_id: int, now: datetime) -> OutboxRow | None:
    record = await conn.fetchrow(
        f"UPDATE notification_outbox SET status = 'pending', attempts = 0, next_attempt_at = $2"
        f" WHERE id = $1 AND status = 'dead' RETURNING {_COLUMNS}",
        row_id,
        now,
    )
    return _row(record) if record is not None else None


async def get(conn: asyncpg.Connection, row_id: int) -> OutboxRow | None:
    record = await conn.fetchrow(f"SELECT {_COLUMNS} FROM notification_outbox WHERE id = $1", row_id)
    return _row(record) if record is not None else None


async def search(
    conn: asyncpg.Connection,
    *,
    status: str | None,
    incident_id: int | None,
    before_id: int | None,
    limit: int,
) -> list[OutboxRow]:
    records = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM notification_outbox
        WHERE ($1::text IS NULL OR status = $1) AND ($2::bigint IS NULL OR incident_id = $2)
          AND ($3::bigint IS NULL OR id < $3)
        ORDER BY id DESC LIMIT $4
        """,
        status,
        incident_id,
        before_id,
        limit,
    )
    return [_row(r) for r in records]


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM notification_outbox"
        " WHERE status IN ('pending', 'held', 'dead') GROUP BY status"
    )
    return {r["status"]: int(r["n"]) for r in rows}


async def targets_of(conn: asyncpg.Connection, incident_id: int, channel: str, kind: str) -> list[str]:
    """Every target an incident's intents of this kind went to (whatever their state)."""
    rows = await conn.fetch(
        "SELECT DISTINCT target FROM notification_outbox WHERE incident_id = $1 AND channel = $2"
        " AND kind = $3 ORDER BY target",
        incident_id,
        channel,
        kind,
    )
    return [r["target"] for r in rows]


async def slack_posts_since(conn: asyncpg.Connection, channel: str, since: datetime) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM notification_outbox WHERE channel = 'slack' AND kind = 'post'"
        " AND target = $1 AND created_at > $2",
        channel,
        since,
    )
    return count


async def remember_dedup_key(
    conn: asyncpg.Connection, dedup_key: str, incident_id: int, at: datetime
) -> None:
    """Which incident a PagerDuty dedup key stood for, so PagerDuty's webhooks find their way back."""
    await conn.execute(
        "INSERT INTO pagerduty_dedup_keys (dedup_key, incident_id, created_at) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        dedup_key,
        incident_id,
        at,
    )


async def remember_dedup_keys(conn: asyncpg.Connection, keys: Sequence[tuple[str, int, datetime]]) -> None:
    """`remember_dedup_key` for many (dedup key, incident id, at) in one statement."""
    await conn.execute(
        "INSERT INTO pagerduty_dedup_keys (dedup_key, incident_id, created_at)"
        " SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) ON CONFLICT DO NOTHING",
        [k for k, _, _ in keys],
        [i for _, i, _ in keys],
        [a for _, _, a in keys],
    )


async def incidents_for_dedup_key(conn: asyncpg.Connection, dedup_key: str) -> list[int]:
    rows = await conn.fetch("SELECT incident_id FROM pagerduty_dedup_keys WHERE dedup_key = $1", dedup_key)
    return [r["incident_id"] for r in rows]


async def postpone_storm_members(conn: asyncpg.Connection, storm_key: str, at: datetime) -> None:
    """Keep a summary's members waiting for its retry instead of flooding the channel one by one."""
    await conn.execute(
        "UPDATE notification_outbox SET next_attempt_at = greatest(next_attempt_at, $2)"
        " WHERE payload ? 'storm_key' AND payload ->> 'storm_key' = $1 AND kind = 'post'"
        " AND status = 'pending'",
        storm_key,
        at,
    )


async def subscribers(conn: asyncpg.Connection, incident_id: int, kind: str) -> list[tuple[str, str]]:
    """(channel, target) pairs already told about this incident with intents of `kind`, oldest first."""
    rows = await conn.fetch(
        "SELECT channel, target, min(id) AS first FROM notification_outbox WHERE incident_id = $1"
        " AND kind = $2 GROUP BY channel, target ORDER BY first",
        incident_id,
        kind,
    )
    return [(r["channel"], r["target"]) for r in rows]


async def told_targets(
    conn: asyncpg.Connection, incident_ids: Sequence[int], kinds: Sequence[tuple[str, str]]
) -> dict[int, dict[tuple[str, str], list[tuple[str, str]]]]:
    """For many incidents at once: by (channel, kind), the (channel, target) pairs their intents went to,
    oldest first (`targets_of` and `subscribers` in one query); channel `*` stands for any channel."""
    rows = await conn.fetch(
        "SELECT o.incident_id, o.channel, o.kind, o.target, min(o.id) AS first FROM notification_outbox o"
        " JOIN unnest($2::text[], $3::text[]) AS w(c, k) ON o.kind = w.k AND (w.c = '*' OR o.channel = w.c)"
        " WHERE o.incident_id = ANY($1::bigint[]) GROUP BY 1, 2, 3, 4 ORDER BY first",
        list(incident_ids),
        [c for c, _ in kinds],
        [k for _, k in kinds],
    )
    found: dict[int, dict[tuple[str, str], list[tuple[str, str]]]] = {
        i: {w: [] for w in kinds} for i in incident_ids
    }
    for row in rows:
        by_kind = found[row["incident_id"]]
        pair = (row["channel"], row["target"])
        for wanted in ((row["channel"], row["kind"]), ("*", row["kind"])):
            if wanted in by_kind:
                by_kind[wanted].append(pair)
    return found

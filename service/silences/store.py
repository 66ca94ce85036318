"""SQL over silences and maintenance_windows (migration 015), on the caller's connection."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from service.domain.silence_matchers import Matcher, Op
from service.domain.silences import Silence

_COLUMNS = "id, matchers, starts_at, ends_at, created_by, comment, updated_at, expired_by"


def matchers_json(matchers: tuple[Matcher, ...] | list[Matcher]) -> list[dict[str, str]]:
    return [{"name": m.name, "op": m.op.value, "value": m.value} for m in matchers]


def matchers_from_json(raw: list[dict[str, Any]]) -> tuple[Matcher, ...]:
    return tuple(Matcher(name=m["name"], op=Op(m["op"]), value=m["value"]) for m in raw)


def _silence(row: asyncpg.Record) -> Silence:
    return Silence(
        id=str(row["id"]),
        matchers=matchers_from_json(row["matchers"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_by=row["created_by"],
        comment=row["comment"],
        updated_at=row["updated_at"],
        expired_by=row["expired_by"],
    )


def parse_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


async def insert(conn: asyncpg.Connection, silence: Silence) -> None:
    await conn.execute(
        "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        uuid.UUID(silence.id),
        matchers_json(silence.matchers),
        silence.starts_at,
        silence.ends_at,
        silence.created_by,
        silence.comment,
        silence.updated_at,
    )


async def get(conn: asyncpg.Connection, silence_id: str, *, lock: bool = False) -> Silence | None:
    parsed = parse_id(silence_id)
    if parsed is None:
        return None
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM silences WHERE id = $1" + (" FOR UPDATE" if lock else ""), parsed
    )
    return _silence(row) if row else None


async def replace(conn: asyncpg.Connection, silence: Silence) -> None:
    await conn.execute(
        "UPDATE silences SET matchers = $2, starts_at = $3, ends_at = $4, created_by = $5, comment = $6,"
        " updated_at = $7, announced_end = false WHERE id = $1",
        uuid.UUID(silence.id),
        matchers_json(silence.matchers),
        silence.starts_at,
        silence.ends_at,
        silence.created_by,
        silence.comment,
        silence.updated_at,
    )


async def expire(conn: asyncpg.Connection, silence_id: str, by: str, now: datetime) -> Silence | None:
    """End it now (a pending one never starts); None if unknown. Expiring an expired one changes nothing."""
    parsed = parse_id(silence_id)
    if parsed is None:
        return None
    row = await conn.fetchrow(
        f"""
        UPDATE silences SET ends_at = CASE WHEN ends_at > $2 THEN $2 ELSE ends_at END,
            starts_at = CASE WHEN starts_at > $2 THEN $2 ELSE starts_at END,
            expired_by = CASE WHEN ends_at > $2 THEN $3 ELSE expired_by END,
            updated_at = CASE WHEN ends_at > $2 THEN $2 ELSE updated_at END
        WHERE id = $1 RETURNING {_COLUMNS}
        """,
        parsed,
        now,
        by,
    )
    return _silence(row) if row else None


async def listing(conn: asyncpg.Connection, limit: int = 5000) -> list[Silence]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM silences ORDER BY ends_at DESC LIMIT $1", limit)
    return [_silence(r) for r in rows]


async def active_until(conn: asyncpg.Connection, now: datetime, until: datetime) -> list[Silence]:
    """Active now or starting by `until` (each is judged at its instant: see MuteSnapshot)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM silences WHERE starts_at <= $2 AND ends_at > $1", now, until
    )
    return [_silence(r) for r in rows]


async def to_announce(conn: asyncpg.Connection, now: datetime) -> list[tuple[str, Silence]]:
    """Silences that started or ended and Slack has not heard of, claimed by this transaction."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS}, announced_start, announced_end FROM silences
        WHERE (NOT announced_start AND starts_at <= $1) OR (NOT announced_end AND ends_at <= $1)
        ORDER BY updated_at LIMIT 100 FOR UPDATE SKIP LOCKED
        """,
        now,
    )
    found: list[tuple[str, Silence]] = []
    for row in rows:
        silence = _silence(row)
        if not row["announced_start"] and silence.ends_at > now:
            found.append(("started", silence))
        if not row["announced_end"] and silence.ends_at <= now:
            found.append(("ended", silence))
        await conn.execute(
            "UPDATE silences SET announced_start = true, announced_end = (ends_at <= $2) WHERE id = $1",
            row["id"],
            now,
        )
    return found


async def new_window(
    conn: asyncpg.Connection,
    *,
    name: str,
    matchers: list[Matcher],
    starts_at: datetime,
    ends_at: datetime,
    owner: str,
    now: datetime,
) -> str:
    window_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO maintenance_windows (id, name, matchers, starts_at, ends_at, owner, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        window_id,
        name,
        matchers_json(matchers),
        starts_at,
        ends_at,
        owner,
        now,
    )
    return str(window_id)


async def windows_between(conn: asyncpg.Connection, start: datetime, end: datetime) -> list[asyncpg.Record]:
    """One-off windows open at some instant of [start, end] (start == end: open at that instant)."""
    return list(
        await conn.fetch(
            "SELECT id, name, matchers, starts_at, ends_at, owner FROM maintenance_windows"
            " WHERE starts_at <= $2 AND ends_at > $1 ORDER BY starts_at",
            start,
            end,
        )
    )

"""SQL over slack_messages (migration 006): where each incident's Slack message lives, per channel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import asyncpg


class Queries(Protocol):
    """The caller's transaction (a connection), or the pool when a write must commit on its own."""

    async def fetchrow(self, query: str, *args: Any) -> Any: ...

    async def execute(self, query: str, *args: Any) -> str: ...


async def message_of(conn: Queries, incident_id: int, channel: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT channel_id, ts, summary FROM slack_messages WHERE incident_id = $1 AND channel = $2",
        incident_id,
        channel,
    )


async def first_message(conn: Queries, incident_id: int) -> asyncpg.Record | None:
    """The incident's first message (not a storm summary): the thread people are pointed to."""
    return await conn.fetchrow(
        "SELECT channel_id, ts FROM slack_messages WHERE incident_id = $1 AND NOT summary"
        " ORDER BY created_at LIMIT 1",
        incident_id,
    )


async def channels_of(conn: asyncpg.Connection, incident_id: int) -> list[str]:
    """The channels holding a message of the incident's own (not a storm summary), sent or under way."""
    rows = await conn.fetch(
        "SELECT channel FROM slack_messages WHERE incident_id = $1 AND NOT summary ORDER BY channel",
        incident_id,
    )
    return [r["channel"] for r in rows]


async def forget(conn: Queries, incident_id: int, channel: str) -> None:
    await conn.execute(
        "DELETE FROM slack_messages WHERE incident_id = $1 AND channel = $2", incident_id, channel
    )


async def touch(conn: Queries, incident_id: int, channel: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE slack_messages SET updated_at = $3 WHERE incident_id = $1 AND channel = $2",
        incident_id,
        channel,
        at,
    )


async def remember(
    conn: Queries,
    incident_ids: list[int],
    channel: str,
    channel_id: str,
    ts: str,
    at: datetime,
    *,
    summary: bool,
) -> None:
    await conn.execute(
        """
        INSERT INTO slack_messages (incident_id, channel, channel_id, ts, summary, created_at, updated_at)
        SELECT i, $2, $3, $4, $5, $6, $6 FROM unnest($1::bigint[]) AS i
        ON CONFLICT (incident_id, channel) DO NOTHING
        """,
        incident_ids,
        channel,
        channel_id,
        ts,
        summary,
        at,
    )


async def first_messages(conn: asyncpg.Connection, incident_ids: Sequence[int]) -> dict[int, asyncpg.Record]:
    """`first_message` for many incidents in one query; one without a message is left out."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (incident_id) incident_id, channel_id, ts FROM slack_messages"
        " WHERE incident_id = ANY($1::bigint[]) AND NOT summary ORDER BY incident_id, created_at",
        list(incident_ids),
    )
    return {r["incident_id"]: r for r in rows}

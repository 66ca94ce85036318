"""Reading alert state for people and incidents: listings, an incident's alerts, a group's firing count.

The evaluator's own batched reads and writes are in state_store.py.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from service.alerting.state_store import COLUMNS


async def firing_in_group(conn: asyncpg.Connection, group_key: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM alert_states WHERE group_key = $1 AND status = 'firing'", group_key
    )
    return count


async def link_incident(conn: asyncpg.Connection, group_key: str, incident_id: int) -> None:
    await conn.execute(
        "UPDATE alert_states SET incident_id = $2 WHERE group_key = $1 AND incident_id IS DISTINCT FROM $2",
        group_key,
        incident_id,
    )


async def link_incidents(conn: asyncpg.Connection, links: list[tuple[str, int]]) -> None:
    """`link_incident` for many (group key, incident id) in one statement."""
    await conn.execute(
        "UPDATE alert_states AS s SET incident_id = u.i FROM unnest($1::text[], $2::bigint[]) AS u(k, i)"
        " WHERE s.group_key = u.k AND s.incident_id IS DISTINCT FROM u.i",
        [k for k, _ in links],
        [i for _, i in links],
    )


async def for_incident(conn: asyncpg.Connection, incident_id: int, limit: int = 50) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT rule, labels, status, level, value, firing_since, resolved_at, updated_at
        FROM alert_states WHERE incident_id = $1 ORDER BY status, rule, series LIMIT $2
        """,
        incident_id,
        limit,
    )
    return [dict(row) for row in rows]


async def listing(
    conn: asyncpg.Connection, *, statuses: list[str] | None, rule: str | None, limit: int
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""
            SELECT rule, series, group_key, labels, incident_id, muted, {COLUMNS} FROM alert_states
            WHERE ($1::text[] IS NULL OR status = ANY($1)) AND ($2::text IS NULL OR rule = $2)
            ORDER BY (status = 'firing') DESC, updated_at DESC LIMIT $3
            """,
            statuses,
            rule,
            limit,
        )
    )


async def slots(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM rule_evaluations ORDER BY rule"))


async def source_down_states(conn: asyncpg.Connection, rules: list[str]) -> list[asyncpg.Record]:
    """The synthetic `SourceDown_*` rules' alerts (one per source, or per scrape target), with the
    error their incident's timeline last recorded: what the console says about each source."""
    return list(
        await conn.fetch(
            """
            SELECT a.rule, a.status, a.labels, a.incident_id, a.updated_at,
                   (SELECT e.data ->> 'error' FROM incident_events e
                    WHERE e.incident_id = a.incident_id AND e.data ? 'error'
                    ORDER BY e.id DESC LIMIT 1) AS error
            FROM alert_states a WHERE a.rule = ANY($1::text[])
            """,
            rules,
        )
    )

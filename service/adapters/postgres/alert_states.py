"""Alert state rows (migration 002) and evaluation slots (migration 007).

Writes go as one `unnest` statement per rule, so storing 20,000 changed states is
one round trip rather than 20,000; only states that differ from what was loaded
are written, so a quiet rule costs a single small query per evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from service.domain.alerts import AlertState, AlertStatus
from service.domain.rules import Level

_COLUMNS = (
    "status, level, value, breach_since, critical_since, last_breach_at, last_critical_at, "
    "firing_since, resolved_at, updated_at"
)


def _state(row: asyncpg.Record) -> AlertState:
    return AlertState(
        labels=row["labels"],
        status=AlertStatus(row["status"]),
        level=Level(row["level"]) if row["level"] else None,
        value=row["value"],
        breach_since=row["breach_since"],
        critical_since=row["critical_since"],
        last_breach_at=row["last_breach_at"],
        last_critical_at=row["last_critical_at"],
        firing_since=row["firing_since"],
        resolved_at=row["resolved_at"],
        updated_at=row["updated_at"],
    )


async def claim_slot(conn: asyncpg.Connection, rule: str, slot: int, now: datetime) -> bool:
    """Take this rule's evaluation for `slot`; False when any replica already took it (or a later one)."""
    claimed = await conn.fetchval(
        """
        INSERT INTO rule_evaluations AS r (rule, last_slot, evaluated_at) VALUES ($1, $2, $3)
        ON CONFLICT (rule) DO UPDATE SET last_slot = excluded.last_slot, evaluated_at = excluded.evaluated_at
            WHERE r.last_slot < excluded.last_slot
        RETURNING true
        """,
        rule,
        slot,
        now,
    )
    return bool(claimed)


async def record_outcome(
    conn: asyncpg.Connection, rule: str, *, duration_ms: float, series: int, transitions: int, missing: bool
) -> None:
    await conn.execute(
        """
        UPDATE rule_evaluations SET duration_ms = $2, series = $3, transitions = $4, data_missing = $5
        WHERE rule = $1
        """,
        rule,
        duration_ms,
        series,
        transitions,
        missing,
    )


async def load(conn: asyncpg.Connection, rule: str) -> dict[str, AlertState]:
    rows = await conn.fetch(f"SELECT series, labels, {_COLUMNS} FROM alert_states WHERE rule = $1", rule)
    return {row["series"]: _state(row) for row in rows}


async def save(
    conn: asyncpg.Connection,
    rule: str,
    before: Mapping[str, AlertState],
    after: Mapping[str, AlertState],
    group_keys: Mapping[str, str],
) -> int:
    """Write what changed between `before` and `after`; returns the number of rows touched."""
    changed = [key for key, state in after.items() if before.get(key) != state]
    gone = [key for key in before if key not in after]
    if gone:
        await conn.execute(
            """
            DELETE FROM alert_states
            WHERE rule = $1 AND md5(series) = ANY(SELECT md5(s) FROM unnest($2::text[]) s)
            """,
            rule,
            gone,
        )
    if changed:
        columns: list[list[Any]] = [[] for _ in range(13)]
        encode = msgspec.json.encode
        for key in changed:
            state = after[key]
            for index, value in enumerate(
                (
                    key,
                    group_keys[key],
                    encode(state.labels).decode(),
                    state.status.value,
                    state.level.value if state.level else None,
                    state.value,
                    state.breach_since,
                    state.critical_since,
                    state.last_breach_at,
                    state.last_critical_at,
                    state.firing_since,
                    state.resolved_at,
                    state.updated_at,
                )
            ):
                columns[index].append(value)
        await conn.execute(
            f"""
            INSERT INTO alert_states (rule, series, group_key, labels, {_COLUMNS})
            SELECT $1, s, g, l::jsonb, st, lv, v, bs, cs, lb, lc, fs, ra, ua
            FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[],
                        $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[],
                        $12::timestamptz[], $13::timestamptz[], $14::timestamptz[])
                AS t(s, g, l, st, lv, v, bs, cs, lb, lc, fs, ra, ua)
            ON CONFLICT (rule, md5(series)) DO UPDATE SET
                group_key = excluded.group_key, labels = excluded.labels, status = excluded.status,
                level = excluded.level, value = excluded.value, breach_since = excluded.breach_since,
                critical_since = excluded.critical_since, last_breach_at = excluded.last_breach_at,
                last_critical_at = excluded.last_critical_at, firing_since = excluded.firing_since,
                resolved_at = excluded.resolved_at, updated_at = excluded.updated_at
            """,
            rule,
            *columns,
        )
    return len(changed) + len(gone)


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
            SELECT rule, series, group_key, labels, incident_id, {_COLUMNS} FROM alert_states
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

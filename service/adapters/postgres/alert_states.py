"""Alert state rows (migration 002) and evaluation slots (migration 007).

Writes go as one `unnest` statement per rule, so storing 20,000 changed states is
one round trip rather than 20,000; only states that differ from what was loaded
are written, so a quiet rule costs a single small query per evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

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


class Claim(NamedTuple):
    claimed: bool
    previous_slot: int | None
    previous_writer: str | None


async def claim_slot(conn: asyncpg.Connection, rule: str, slot: int, now: datetime, writer: str) -> Claim:
    """Take this rule's evaluation for `slot`; not claimed when any replica already took it (or a later
    one). Also says who wrote the previous slot, so that writer may trust its cached states."""
    previous = await conn.fetchrow(
        "SELECT last_slot, writer FROM rule_evaluations WHERE rule = $1 FOR UPDATE", rule
    )
    if previous is not None and previous["last_slot"] >= slot:
        return Claim(False, previous["last_slot"], previous["writer"])
    claimed = await conn.fetchval(
        """
        INSERT INTO rule_evaluations AS r (rule, last_slot, evaluated_at, writer) VALUES ($1, $2, $3, $4)
        ON CONFLICT (rule) DO UPDATE
            SET last_slot = excluded.last_slot, evaluated_at = excluded.evaluated_at, writer = excluded.writer
            WHERE r.last_slot < excluded.last_slot
        RETURNING true
        """,
        rule,
        slot,
        now,
        writer,
    )
    if previous is None:
        return Claim(bool(claimed), None, None)
    return Claim(bool(claimed), previous["last_slot"], previous["writer"])


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


async def load(conn: asyncpg.Connection, rule: str) -> tuple[dict[str, AlertState], dict[str, int]]:
    """The rule's states by series key, and their row ids (updates address rows by id)."""
    rows = await conn.fetch(f"SELECT id, series, labels, {_COLUMNS} FROM alert_states WHERE rule = $1", rule)
    return {row["series"]: _state(row) for row in rows}, {row["series"]: row["id"] for row in rows}


def _still_breaching(old: AlertState, new: AlertState) -> bool:
    """True when `new` is `old` after one more breaching evaluation and nothing else: same status,
    level and start times, with the breach (and critical) clocks moved to this evaluation."""
    at = new.updated_at
    return (
        new.status is old.status
        and new.level is old.level
        and new.breach_since is not None
        and new.breach_since == old.breach_since
        and new.critical_since == old.critical_since
        and new.firing_since == old.firing_since
        and new.resolved_at == old.resolved_at
        and new.last_breach_at == at
        and new.labels == old.labels
        and (
            new.last_critical_at == at
            if new.critical_since is not None
            else new.last_critical_at == old.last_critical_at
        )
    )


def _mutable(state: AlertState) -> tuple[Any, ...]:
    return (
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


_UNNEST_MUTABLE = (
    "$2::text[], $3::text[], $4::float8[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], "
    "$8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[]"
)


async def save(
    conn: asyncpg.Connection,
    rule: str,
    before: Mapping[str, AlertState],
    after: Mapping[str, AlertState],
    group_keys: Mapping[str, str],
    ids: dict[str, int],
) -> int:
    """Write what changed between `before` and `after`, keeping `ids` (series key -> row id) current.

    Existing rows are updated by id in the columns that move (labels and keys never change for a
    series), new ones inserted; returns the number of rows touched."""
    changed = [key for key, state in after.items() if before.get(key) != state]
    gone = [key for key in before if key not in after]
    if gone:
        await conn.execute(
            "DELETE FROM alert_states WHERE id = ANY($1::bigint[])",
            [ids.pop(key) for key in gone if key in ids],
        )
    updates = [key for key in changed if key in ids]
    inserts = [key for key in changed if key not in ids]
    still = [key for key in updates if _still_breaching(before[key], after[key])]
    if still:
        # A series that simply keeps breaching moves only its value and clocks: send two arrays.
        at = after[still[0]].updated_at
        await conn.execute(
            """
            UPDATE alert_states a SET value = t.v, last_breach_at = $1, updated_at = $1,
                last_critical_at = CASE WHEN a.critical_since IS NOT NULL THEN $1 ELSE a.last_critical_at END
            FROM unnest($2::bigint[], $3::float8[]) AS t(id, v)
            WHERE a.id = t.id
            """,
            at,
            [ids[key] for key in still],
            [after[key].value for key in still],
        )
        moved = set(still)
        updates = [key for key in updates if key not in moved]
    if updates:
        columns = list(zip(*[(ids[key], *_mutable(after[key])) for key in updates], strict=True))
        await conn.execute(
            f"""
            UPDATE alert_states a SET status = t.st, level = t.lv, value = t.v, breach_since = t.bs,
                critical_since = t.cs, last_breach_at = t.lb, last_critical_at = t.lc,
                firing_since = t.fs, resolved_at = t.ra, updated_at = t.ua
            FROM unnest($1::bigint[], {_UNNEST_MUTABLE}) AS t(id, st, lv, v, bs, cs, lb, lc, fs, ra, ua)
            WHERE a.id = t.id
            """,
            *columns,
        )
    if inserts:
        encode = msgspec.json.encode
        new_columns = list(
            zip(
                *[
                    (key, group_keys[key], encode(after[key].labels).decode(), *_mutable(after[key]))
                    for key in inserts
                ],
                strict=True,
            )
        )
        rows = await conn.fetch(
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
            RETURNING id, series
            """,
            rule,
            *new_columns,
        )
        ids.update((row["series"], row["id"]) for row in rows)
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

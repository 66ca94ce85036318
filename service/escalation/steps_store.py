"""SQL over escalation_steps (migration 004), always on the caller's connection and transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from service.domain.escalation_schedule import PlannedStep, StepKind

LADDER_KINDS = (StepKind.ESCALATE.value, StepKind.EXHAUSTED.value)
_COLUMNS = "id, incident_id, kind, level, attempt, due_at, armed_at, data"


class StepRow(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    incident_id: int
    kind: StepKind
    level: int
    attempt: int
    due_at: datetime
    armed_at: datetime
    data: dict[str, Any]


def _row(record: asyncpg.Record) -> StepRow:
    return StepRow(
        id=record["id"],
        incident_id=record["incident_id"],
        kind=StepKind(record["kind"]),
        level=record["level"],
        attempt=record["attempt"],
        due_at=record["due_at"],
        armed_at=record["armed_at"],
        data=dict(record["data"] or {}),
    )


async def insert(
    conn: asyncpg.Connection,
    incident_id: int,
    step: PlannedStep,
    armed_at: datetime,
    *,
    state: str = "pending",
    finished_at: datetime | None = None,
    reason: str | None = None,
) -> int:
    step_id: int = await conn.fetchval(
        "INSERT INTO escalation_steps (incident_id, kind, level, attempt, due_at, data, armed_at, state,"
        " finished_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        incident_id,
        step.kind.value,
        step.level,
        step.attempt,
        step.due_at,
        step.data,
        armed_at,
        state,
        finished_at,
        reason,
    )
    return step_id


async def insert_pending_many(
    conn: asyncpg.Connection, steps: Sequence[tuple[int, PlannedStep]], armed_at: datetime
) -> None:
    """`insert` of many pending (incident id, step) in one statement, for incidents opened together."""
    await conn.execute(
        "INSERT INTO escalation_steps (incident_id, kind, level, attempt, due_at, data, armed_at, state)"
        " SELECT i, k, l, a, d, j, $7, 'pending'"
        " FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::timestamptz[], $6::jsonb[])"
        " AS u(i, k, l, a, d, j)",
        [i for i, _ in steps],
        [s.kind.value for _, s in steps],
        [s.level for _, s in steps],
        [s.attempt for _, s in steps],
        [s.due_at for _, s in steps],
        [s.data for _, s in steps],
        armed_at,
    )


async def cancel(
    conn: asyncpg.Connection, incident_id: int, kinds: Sequence[str], reason: str, now: datetime
) -> int:
    status: str = await conn.execute(
        "UPDATE escalation_steps SET state = 'cancelled', finished_at = $3, reason = $4"
        " WHERE incident_id = $1 AND state = 'pending' AND kind = ANY($2::text[])",
        incident_id,
        list(kinds),
        now,
        reason,
    )
    return int(status.rsplit(maxsplit=1)[-1])


async def pending(conn: asyncpg.Connection, incident_id: int, *, lock: bool = False) -> list[StepRow]:
    suffix = " FOR UPDATE" if lock else ""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM escalation_steps WHERE incident_id = $1 AND state = 'pending'"  # noqa: S608
        f" ORDER BY due_at, id{suffix}",
        incident_id,
    )
    return [_row(r) for r in rows]


async def claim_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[StepRow]:
    """Lock up to `limit` due rows that no other worker holds; they stay ours until commit."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM escalation_steps WHERE state = 'pending' AND due_at <= $1"  # noqa: S608
        " ORDER BY due_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [_row(r) for r in rows]


async def set_level(conn: asyncpg.Connection, step_id: int, level: int) -> None:
    await conn.execute("UPDATE escalation_steps SET level = $2 WHERE id = $1", step_id, level)


async def finish(
    conn: asyncpg.Connection, step_id: int, now: datetime, *, state: str = "done", reason: str | None = None
) -> None:
    await conn.execute(
        "UPDATE escalation_steps SET state = $2, finished_at = $3, reason = $4 WHERE id = $1",
        step_id,
        state,
        now,
        reason,
    )


async def postpone(conn: asyncpg.Connection, step_id: int, due_at: datetime, error: str) -> None:
    await conn.execute(
        "UPDATE escalation_steps SET due_at = $2, failures = failures + 1, last_error = $3 WHERE id = $1",
        step_id,
        due_at,
        error[:500],
    )


async def reschedule(conn: asyncpg.Connection, step_id: int, due_at: datetime) -> None:
    await conn.execute("UPDATE escalation_steps SET due_at = $2 WHERE id = $1", step_id, due_at)


async def highest_told(conn: asyncpg.Connection, incident_id: int) -> int:
    value: int | None = await conn.fetchval(
        "SELECT max(level) FROM escalation_steps"
        " WHERE incident_id = $1 AND state = 'done' AND kind IN ('escalate', 'overdue')",
        incident_id,
    )
    return value or 0


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    due: datetime | None = await conn.fetchval(
        "SELECT due_at FROM escalation_steps WHERE state = 'pending' ORDER BY due_at LIMIT 1"
    )
    return due


async def finish_many(
    conn: asyncpg.Connection, step_ids: Sequence[int], now: datetime, *, reason: str | None = None
) -> None:
    """`finish` (done) for many steps in one statement."""
    await conn.execute(
        "UPDATE escalation_steps SET state = 'done', finished_at = $2, reason = $3"
        " WHERE id = ANY($1::bigint[])",
        list(step_ids),
        now,
        reason,
    )

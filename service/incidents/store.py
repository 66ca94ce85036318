"""SQL for incidents and their timeline. Every function takes the connection of the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from service.domain.incidents import Incident, Status, TimelineEvent
from service.domain.severity import Severity

_COLUMNS = (
    "id, dedup_key, title, description, severity, status, labels, assignee, created_by, source,"
    " created_at, updated_at, acknowledged_at, mitigated_at, resolved_at"
)


def incident_from_row(row: asyncpg.Record) -> Incident:
    return Incident(
        id=row["id"],
        dedup_key=row["dedup_key"],
        title=row["title"],
        description=row["description"],
        severity=Severity(row["severity"]),
        status=Status(row["status"]),
        labels=dict(row["labels"]),
        assignee=row["assignee"],
        created_by=row["created_by"],
        source=row["source"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        acknowledged_at=row["acknowledged_at"],
        mitigated_at=row["mitigated_at"],
        resolved_at=row["resolved_at"],
    )


def event_from_row(row: asyncpg.Record) -> TimelineEvent:
    return TimelineEvent(
        id=row["id"],
        incident_id=row["incident_id"],
        at=row["at"],
        kind=row["kind"],
        actor=row["actor"],
        source=row["source"],
        data=dict(row["data"]),
    )


async def insert_if_no_open_duplicate(
    conn: asyncpg.Connection,
    *,
    dedup_key: str,
    title: str,
    description: str,
    severity: Severity,
    labels: dict[str, str],
    created_by: str,
    source: str,
    at: datetime,
) -> Incident | None:
    """Insert a triggered incident unless an open one holds the key; the partial unique index decides."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO incidents (dedup_key, title, description, severity, status, labels, created_by, source,
                               created_at, updated_at)
        VALUES ($1, $2, $3, $4, 'triggered', $5, $6, $7, $8, $8)
        ON CONFLICT (dedup_key) WHERE status <> 'resolved' DO NOTHING
        RETURNING {_COLUMNS}
        """,
        dedup_key,
        title,
        description,
        int(severity),
        labels,
        created_by,
        source,
        at,
    )
    return incident_from_row(row) if row else None


async def lock_open_by_dedup_key(conn: asyncpg.Connection, dedup_key: str) -> Incident | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM incidents WHERE dedup_key = $1 AND status <> 'resolved' FOR UPDATE",
        dedup_key,
    )
    return incident_from_row(row) if row else None


async def lock_open_by_dedup_keys(
    conn: asyncpg.Connection, keys: Sequence[str], *, shared: bool = False
) -> dict[str, Incident]:
    """In key order, so batches locking overlapping keys on several replicas cannot deadlock."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM incidents WHERE dedup_key = ANY($1::text[]) AND status <> 'resolved'"
        f" ORDER BY dedup_key {'FOR SHARE' if shared else 'FOR UPDATE'}",
        list(keys),
    )
    return {r["dedup_key"]: incident_from_row(r) for r in rows}


async def lock(conn: asyncpg.Connection, incident_id: int) -> Incident | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM incidents WHERE id = $1 FOR UPDATE", incident_id)
    return incident_from_row(row) if row else None


async def lock_free(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Incident]:
    """Lock the incidents nobody else is changing; the rest are left to the caller's next round.

    Skipping (not waiting) is what keeps the escalation worker deadlock-free: incident
    changes lock the incident first and then its steps, while the worker holds steps first.
    """
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM incidents WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE SKIP LOCKED",
        list(ids),
    )
    return {r["id"]: incident_from_row(r) for r in rows}


async def fresh_dedup_key(conn: asyncpg.Connection) -> str:
    token: str = await conn.fetchval("SELECT md5(random()::text || clock_timestamp()::text)")
    return f"manual-{token[:16]}"


async def touch(conn: asyncpg.Connection, incident_id: int, at: datetime) -> None:
    await conn.execute("UPDATE incidents SET updated_at = $2 WHERE id = $1", incident_id, at)


async def get(conn: asyncpg.Connection, incident_id: int) -> Incident | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM incidents WHERE id = $1", incident_id)
    return incident_from_row(row) if row else None


async def update(conn: asyncpg.Connection, incident: Incident) -> None:
    await conn.execute(
        """
        UPDATE incidents SET title = $2, description = $3, severity = $4, status = $5, labels = $6,
               assignee = $7, updated_at = $8, acknowledged_at = $9, mitigated_at = $10, resolved_at = $11
        WHERE id = $1
        """,
        incident.id,
        incident.title,
        incident.description,
        int(incident.severity),
        incident.status.value,
        incident.labels,
        incident.assignee,
        incident.updated_at,
        incident.acknowledged_at,
        incident.mitigated_at,
        incident.resolved_at,
    )


async def append_event(
    conn: asyncpg.Connection,
    *,
    incident_id: int,
    at: datetime,
    kind: str,
    actor: str,
    source: str,
    data: dict[str, Any],
) -> TimelineEvent:
    row = await conn.fetchrow(
        """
        INSERT INTO incident_events (incident_id, at, kind, actor, source, data)
        VALUES ($1, $2, $3, $4, $5, $6)
        RETURNING id, incident_id, at, kind, actor, source, data
        """,
        incident_id,
        at,
        kind,
        actor,
        source,
        data,
    )
    assert row is not None
    return event_from_row(row)


async def timeline(conn: asyncpg.Connection, incident_id: int) -> list[TimelineEvent]:
    rows = await conn.fetch(
        "SELECT id, incident_id, at, kind, actor, source, data FROM incident_events"
        " WHERE incident_id = $1 ORDER BY id",
        incident_id,
    )
    return [event_from_row(r) for r in rows]


async def search(
    conn: asyncpg.Connection,
    *,
    statuses: list[str] | None,
    severities: list[int] | None,
    since: datetime | None,
    before_id: int | None,
    limit: int,
) -> list[Incident]:
    """Newest first, keyset-paginated on id so pages stay stable while incidents open."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM incidents
        WHERE ($1::text[] IS NULL OR status = ANY($1))
          AND ($2::int[] IS NULL OR severity = ANY($2))
          AND ($3::timestamptz IS NULL OR created_at >= $3)
          AND ($4::bigint IS NULL OR id < $4)
        ORDER BY id DESC
        LIMIT $5
        """,
        statuses,
        severities,
        since,
        before_id,
        limit,
    )
    return [incident_from_row(r) for r in rows]


async def open_counts_by_severity(conn: asyncpg.Connection) -> dict[Severity, int]:
    rows = await conn.fetch(
        "SELECT severity, count(*) AS n FROM incidents WHERE status <> 'resolved' GROUP BY severity"
    )
    counts = dict.fromkeys(Severity, 0)
    for row in rows:
        counts[Severity(row["severity"])] = row["n"]
    return counts


async def insert_many_if_no_open_duplicate(
    conn: asyncpg.Connection,
    rows: Sequence[tuple[str, str, str, Severity, dict[str, str]]],
    *,
    created_by: str,
    source: str,
    at: datetime,
) -> dict[str, Incident]:
    """`insert_if_no_open_duplicate` for many (dedup key, title, description, severity, labels) in one
    statement; returns what was created by key. A key already open (or twice in `rows`) is skipped."""
    records = await conn.fetch(
        f"""
        INSERT INTO incidents (dedup_key, title, description, severity, status, labels, created_by, source,
                               created_at, updated_at)
        SELECT k, t, d, s, 'triggered', l, $6, $7, $8, $8
        FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::jsonb[]) WITH ORDINALITY
             AS u(k, t, d, s, l, n)
        ORDER BY n
        ON CONFLICT (dedup_key) WHERE status <> 'resolved' DO NOTHING
        RETURNING {_COLUMNS}
        """,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [int(r[3]) for r in rows],
        [r[4] for r in rows],
        created_by,
        source,
        at,
    )  # fmt: skip
    return {r["dedup_key"]: incident_from_row(r) for r in records}


async def append_events_many(
    conn: asyncpg.Connection,
    events: Sequence[tuple[int, str, dict[str, Any]]],
    *,
    at: datetime,
    actor: str,
    source: str,
) -> list[TimelineEvent]:
    """`append_event` for many (incident id, kind, data) in one statement, in the order given."""
    rows = await conn.fetch(
        """
        INSERT INTO incident_events (incident_id, at, kind, actor, source, data)
        SELECT i, $4, k, $5, $6, d
        FROM unnest($1::bigint[], $2::text[], $3::jsonb[]) WITH ORDINALITY AS u(i, k, d, n) ORDER BY n
        RETURNING id, incident_id, at, kind, actor, source, data
        """,
        [e[0] for e in events],
        [e[1] for e in events],
        [e[2] for e in events],
        at,
        actor,
        source,
    )
    return sorted((event_from_row(r) for r in rows), key=lambda e: e.id)


async def touch_many(conn: asyncpg.Connection, incident_ids: Sequence[int], at: datetime) -> None:
    await conn.execute(
        "UPDATE incidents SET updated_at = $2 WHERE id = ANY($1::bigint[])", list(incident_ids), at
    )


async def timelines(conn: asyncpg.Connection, incident_ids: Sequence[int]) -> dict[int, list[TimelineEvent]]:
    """`timeline` for many incidents in one query; an incident without events maps to []."""
    rows = await conn.fetch(
        "SELECT id, incident_id, at, kind, actor, source, data FROM incident_events"
        " WHERE incident_id = ANY($1::bigint[]) ORDER BY incident_id, id",
        list(incident_ids),
    )
    found: dict[int, list[TimelineEvent]] = {i: [] for i in incident_ids}
    for row in rows:
        found[row["incident_id"]].append(event_from_row(row))
    return found

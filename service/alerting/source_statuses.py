"""The last read of every source and target, kept in PostgreSQL so every replica shows the same.

Each replica collects on its own (as a Prometheus HA pair does), so what one
replica's collector remembers is not what a request to another replica would
see, and it is gone after a restart. After every collection the fresh statuses
(not reused ones) are written to `source_statuses`; a newer read replaces an
older one whichever replica made it, and a target that left a source's target
list is forgotten at that source's next read. `GET /api/v1/sources` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from service.adapters.postgres.database import Database, DatabaseUnavailable
from service.alerting.source_health import SourceHealth
from service.alerting.value_source import CollectionLike, ValueSource
from service.domain.rules import Rule

log = structlog.get_logger(__name__)

_UPSERT = """
INSERT INTO source_statuses AS s (kind, source, instance, labels, up, error, warning, read_at,
    duration_seconds, samples, dropped_samples, last_success_at, replica)
VALUES ($1, $2, $3, $4, $5::boolean, $6, $7, $8::timestamptz, $9, $10, $11,
    CASE WHEN $5::boolean THEN $8::timestamptz END, $12)
ON CONFLICT (kind, source, instance) DO UPDATE SET
    labels = excluded.labels, up = excluded.up, error = excluded.error, warning = excluded.warning,
    read_at = excluded.read_at, duration_seconds = excluded.duration_seconds, samples = excluded.samples,
    dropped_samples = excluded.dropped_samples, replica = excluded.replica,
    last_success_at = CASE WHEN excluded.up THEN excluded.read_at ELSE s.last_success_at END
WHERE s.read_at <= excluded.read_at
"""


def _row(status: SourceHealth, replica: str, at: datetime) -> tuple[Any, ...] | None:
    if getattr(status, "cached", False):
        return None  # reused from an earlier collection: already written when it was read
    read_at = getattr(status, "read_at", None) or at
    instance = status.labels.get("instance", "") if status.kind == "scrape" else ""
    return (
        status.kind,
        status.source,
        instance,
        dict(status.labels),
        status.ok,
        status.error,
        getattr(status, "warning", None),
        read_at,
        float(getattr(status, "duration_seconds", 0.0)),
        getattr(status, "samples", None),
        int(getattr(status, "dropped_samples", 0)),
        replica,
    )


async def record(
    conn: asyncpg.Connection, statuses: Sequence[SourceHealth], replica: str, at: datetime
) -> int:
    rows = [row for status in statuses if (row := _row(status, replica, at)) is not None]
    if not rows:
        return 0
    async with conn.transaction():
        await conn.executemany(_UPSERT, rows)
        seen: dict[tuple[str, str], tuple[list[str], datetime]] = {}
        for row in rows:
            instances, latest = seen.get((row[0], row[1]), ([], row[7]))
            instances.append(row[2])
            seen[(row[0], row[1])] = (instances, min(latest, row[7]))
        for (kind, source), (instances, read_at) in seen.items():
            await conn.execute(
                "DELETE FROM source_statuses WHERE kind = $1 AND source = $2 AND instance <> ALL($3::text[])"
                " AND read_at < $4",
                kind,
                source,
                instances,
                read_at,
            )
    return len(rows)


async def listing(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM source_statuses ORDER BY kind, source, instance"))


class RecordingSource:
    """A ValueSource that writes what each collection learnt about its sources before handing it on.
    A failed write costs the listing one round, never the evaluation."""

    def __init__(self, inner: ValueSource, db: Database, replica: str) -> None:
        self._inner = inner
        self._db = db
        self._replica = replica

    async def collect(self, rules: Sequence[Rule], now: datetime) -> CollectionLike:
        collection = await self._inner.collect(rules, now)
        try:
            async with self._db.connection() as conn:
                await record(conn, collection.statuses, self._replica, now)
        except (DatabaseUnavailable, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("source_statuses_not_recorded", error=type(exc).__name__)
        return collection

    async def close(self) -> None:
        await self._inner.close()


def by_source(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["kind"], row["source"]), []).append(row)
    return grouped

"""Running SQL probes: a named query, read-only, under a statement timeout, on a small pool of its own.

The pool is separate from the service's own `Database` pool (and small: two
connections per database), so a slow probe can never starve the API or the
incident writes. Each run is a read-only transaction with `SET LOCAL
statement_timeout`, so a probe can neither write nor run on. Errors become a
`SourceError` that names the probe's database by its *name* (`self` or the
environment variable), never by its DSN.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from service.domain.derivations import Row
from service.domain.rules import SqlProbe
from service.observability import scrub_text
from service.sources.failures import SourceError

POOL_SIZE = 2
# Grace on top of statement_timeout for connecting and for the server's cancel to arrive.
_GRACE_SECONDS = 2.0


def _safe(text: str, dsn: str) -> str:
    """Scrub a driver message: drop the DSN if it is quoted back, and any password-like part."""
    text = text.replace(dsn, "<dsn>")
    return scrub_text(text)[:300]


class ProbeRunner:
    """One small asyncpg pool per database DSN, created on first use and closed with `close()`."""

    def __init__(self) -> None:
        self._pools: dict[str, asyncpg.Pool] = {}
        self._lock = asyncio.Lock()

    async def _pool(self, dsn: str, database: str, timeout: float) -> asyncpg.Pool:
        async with self._lock:
            pool = self._pools.get(dsn)
            if pool is None:
                try:
                    pool = await asyncpg.create_pool(
                        dsn, min_size=0, max_size=POOL_SIZE, timeout=timeout, command_timeout=None
                    )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                    raise SourceError(
                        f"cannot connect to database {database}: {_describe(exc, dsn)}"
                    ) from None
                self._pools[dsn] = pool
            return pool

    async def run(self, probe: SqlProbe, dsn: str, database: str) -> list[Row]:
        """The probe's rows: every column except `value_column` is a label (as text)."""
        timeout = probe.timeout.total_seconds()
        try:
            async with asyncio.timeout(timeout + _GRACE_SECONDS):
                pool = await self._pool(dsn, database, timeout)
                async with pool.acquire(timeout=timeout) as conn:
                    records = await _query(conn, probe, timeout)
        except SourceError:
            raise
        except TimeoutError:
            raise SourceError(f"timed out after {timeout:g}s on database {database}") from None
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
            raise SourceError(f"cannot connect to database {database}: {_describe(exc, dsn)}") from None
        except asyncpg.PostgresError as exc:
            raise SourceError(f"query failed on database {database}: {_describe(exc, dsn)}") from None
        return _rows(records, probe)

    async def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except (TimeoutError, OSError, asyncpg.InterfaceError):
                pool.terminate()


async def _query(conn: Any, probe: SqlProbe, timeout: float) -> list[Any]:
    milliseconds = max(1, round(timeout * 1000))
    async with conn.transaction():
        await conn.execute(f"SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = {milliseconds}")
        extension = probe.requires_extension
        if extension is not None:
            present = await conn.fetchval("SELECT true FROM pg_extension WHERE extname = $1", extension)
            if not present:
                raise SourceError(f"{extension} is not available (CREATE EXTENSION {extension})")
        try:
            return list(await conn.fetch(probe.query))
        except asyncpg.QueryCanceledError:
            raise SourceError(f"query timed out after {timeout:g}s (statement_timeout)") from None
        except asyncpg.ObjectNotInPrerequisiteStateError as exc:
            # pg_stat_statements installed but not in shared_preload_libraries lands here.
            if extension is not None:
                raise SourceError(f"{extension} is not available: {exc}") from None
            raise


def _describe(exc: BaseException, dsn: str) -> str:
    if isinstance(exc, asyncpg.PostgresError):
        return _safe(f"{exc.sqlstate}: {exc}" if getattr(exc, "sqlstate", None) else str(exc), dsn)
    if isinstance(exc, OSError) and exc.strerror:
        return _safe(exc.strerror, dsn)
    return _safe(str(exc) or type(exc).__name__, dsn)


def _rows(records: list[Any], probe: SqlProbe) -> list[Row]:
    column = probe.value_column
    rows: list[Row] = []
    for record in records:
        if column not in record:
            names = ", ".join(record.keys()) or "none"
            raise SourceError(f"the query returns no column {column!r} (columns: {names})")
        raw = record[column]
        if raw is None:
            continue  # NULL is no value for that row, like a missing series
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise SourceError(f"column {column!r} is not a number ({type(raw).__name__})") from None
        labels = {key: "" if item is None else str(item) for key, item in record.items() if key != column}
        rows.append((labels, value))
    return rows

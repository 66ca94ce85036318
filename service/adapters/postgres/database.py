"""The asyncpg pool, wrapped so that a missing database degrades the service instead of killing it.

The pool is created lazily; while PostgreSQL is away every caller gets
`DatabaseUnavailable`, which the API turns into a 503, and the next call after
the database returns simply works again. Only a failure to get a connection, or
the server dropping the one a caller holds, means "unavailable": an error in the
caller's own code (a timeout of its HTTP call, a bug) stays that caller's error,
and no caller's failure ever touches another caller's connection. asyncpg
replaces a dead connection on its next acquire, so the pool is never thrown away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
import structlog

from service.cancellation import reraise_if_cancelling
from service.dependencies import Key

log = structlog.get_logger(__name__)

# The server refused us or dropped us (SQLSTATE classes 08 and 57P, too many connections).
SERVER_GONE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)
# Opening a connection can also fail at the socket (refused, unreachable, timed out).
CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    *SERVER_GONE_ERRORS,
    OSError,
    TimeoutError,
    asyncpg.exceptions.InterfaceError,
)


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached right now; callers should degrade, not crash."""


class DatabaseBusy(DatabaseUnavailable):
    """Every pooled connection stayed in use for the whole acquire timeout; the server is fine."""


def is_closed(conn: asyncpg.Connection) -> bool:
    """Closed, or already handed back by the pool, which asyncpg does by itself when the socket dies."""
    try:
        return bool(conn.is_closed())
    except asyncpg.exceptions.InterfaceError:
        return True


def _lost_connection(exc: BaseException, conn: asyncpg.Connection) -> bool:
    """Did this error come from the server or socket going away under a caller's connection?"""
    if isinstance(exc, SERVER_GONE_ERRORS):
        return True
    return isinstance(exc, asyncpg.exceptions.InterfaceError | OSError) and is_closed(conn)


def _json_text(value: Any) -> str:
    """msgspec's encoder: the same JSON as json.dumps for what we store, several times faster (an alert
    storm writes tens of thousands of snapshots in one round)."""
    return _ENCODER.encode(value).decode()


_ENCODER = msgspec.json.Encoder()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=_json_text, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=_json_text, decoder=json.loads, schema="pg_catalog")


def redact_dsn(dsn: str) -> str:
    """Drop the password from a DSN for display; the raw DSN is never logged."""
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"


class Database:
    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
        application_name: str = "incidentd",
    ) -> None:
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._application_name = application_name
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self.last_error: str | None = None

    @property
    def display_dsn(self) -> str:
        return redact_dsn(self._dsn)

    async def _ensure_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=self._min_size,
                        max_size=self._max_size,
                        timeout=self._connect_timeout,
                        command_timeout=self._command_timeout,
                        init=_init_connection,
                        server_settings={"application_name": self._application_name},
                    )
                except CONNECT_ERRORS as exc:
                    raise self._unavailable(exc) from exc
            return self._pool

    def _unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        self.last_error = type(exc).__name__
        return DatabaseUnavailable(f"database unreachable ({type(exc).__name__})")

    async def _acquire(self, pool: asyncpg.Pool) -> asyncpg.Connection:
        try:
            conn: asyncpg.Connection = await pool.acquire(timeout=self._connect_timeout)
        except TimeoutError as exc:
            if pool.get_size() >= self._max_size and pool.get_idle_size() == 0:
                log.warning("database_pool_busy", pool=self._application_name, size=self._max_size)
                raise DatabaseBusy(
                    f"all {self._max_size} database connections of {self._application_name} stayed busy"
                    f" for {self._connect_timeout:g}s"
                ) from exc
            raise self._unavailable(exc) from exc
        except CONNECT_ERRORS as exc:
            raise self._unavailable(exc) from exc
        return conn

    async def _release(self, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
        try:
            await pool.release(conn, timeout=self._connect_timeout)
        except Exception as exc:  # noqa: BLE001 - asyncpg has terminated that one connection; the caller's outcome stands
            log.warning("database_release_failed", pool=self._application_name, error=type(exc).__name__)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        pool = await self._ensure_pool()
        conn = await self._acquire(pool)
        try:
            yield conn
        except Exception as exc:
            reraise_if_cancelling(exc)
            if _lost_connection(exc, conn):
                raise self._unavailable(exc) from exc
            raise
        finally:
            await self._release(pool, conn)

    @asynccontextmanager
    async def transaction(self, *, isolation: str = "read_committed") -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn, conn.transaction(isolation=isolation):
            yield conn

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection() as conn:
            return list(await conn.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(query, *args)
            return row

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        async with self.connection() as conn:
            result: str = await conn.execute(query, *args)
            return result

    async def ping(self) -> bool:
        try:
            await self.fetchval("SELECT 1")
        except DatabaseUnavailable:
            return False
        self.last_error = None
        return True

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except CONNECT_ERRORS:
                pool.terminate()


DATABASE: Key[Database] = Key("database")

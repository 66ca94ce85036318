"""The asyncpg pool, wrapped so that a missing database degrades the service instead of killing it.

The pool is created lazily and recreated after failures; while PostgreSQL is
away every caller gets `DatabaseUnavailable`, which the API turns into a 503,
and the next call after the database returns simply works again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import structlog

from service.dependencies import Key

log = structlog.get_logger(__name__)

# Errors that mean "the database is not there", as opposed to "your query is wrong".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionFailureError,
)


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached right now; callers should degrade, not crash."""


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


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
                except CONNECTION_ERRORS as exc:
                    self.last_error = type(exc).__name__
                    raise DatabaseUnavailable(f"database unreachable ({type(exc).__name__})") from exc
            return self._pool

    async def _discard_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        pool = await self._ensure_pool()
        try:
            async with pool.acquire(timeout=self._connect_timeout) as conn:
                yield conn
        except CONNECTION_ERRORS as exc:
            self.last_error = type(exc).__name__
            # A pool whose server went away keeps handing out dead connections; start over.
            await self._discard_pool()
            raise DatabaseUnavailable(f"database unreachable ({type(exc).__name__})") from exc

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
            except CONNECTION_ERRORS:
                pool.terminate()


DATABASE: Key[Database] = Key("database")

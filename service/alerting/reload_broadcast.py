"""A reload asked of one replica reaches every replica, through a counter in PostgreSQL.

The replica that is asked (API or SIGHUP) reloads its own files and bumps
`rule_reload_requests.generation`; every replica polls that row about once a
second and reloads when it moves. Polling the database rather than holding a
LISTEN connection means a replica that was disconnected, or started after the
request, still sees it: the counter is state, not a message that can be missed.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog

from service.adapters.postgres.database import Database, DatabaseUnavailable
from service.alerting.rulebook import ReloadResult, RuleBook
from service.clock import Clock
from service.dependencies import Key
from service.supervisor import progress, sleep_or_stop

log = structlog.get_logger(__name__)

POLL_SECONDS = 1.0
_DATABASE_GONE = (DatabaseUnavailable, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)


class ReloadBroadcast:
    def __init__(self, db: Database, book: RuleBook, clock: Clock, *, replica: str) -> None:
        self._db = db
        self._book = book
        self._clock = clock
        self._replica = replica
        self._seen: int | None = None

    async def request(self, *, by: str) -> ReloadResult:
        """Reload here now, then tell the other replicas. A refused reload is announced too: each replica
        judges its own copy of the files (a ConfigMap reaches pods at different times)."""
        result = self._book.reload()
        try:
            async with self._db.connection() as conn:
                self._seen = await conn.fetchval(
                    """
                    INSERT INTO rule_reload_requests AS r (id, generation, requested_at, requested_by)
                    VALUES (1, 1, $1, $2)
                    ON CONFLICT (id) DO UPDATE SET generation = r.generation + 1,
                        requested_at = excluded.requested_at, requested_by = excluded.requested_by
                    RETURNING generation
                    """,
                    self._clock(),
                    f"{by} on {self._replica}"[:200],
                )
        except _DATABASE_GONE:
            log.warning("rules_reload_not_broadcast", reason="database unavailable")
        return result

    async def poll(self) -> bool:
        """Reload if another replica asked since the last poll; True when it did."""
        async with self._db.connection() as conn:
            generation = await conn.fetchval("SELECT generation FROM rule_reload_requests WHERE id = 1")
        generation = generation or 0
        if self._seen is None or generation == self._seen:
            self._seen = generation
            return False
        self._seen = generation
        log.info("rules_reload_requested_elsewhere", generation=generation)
        self._book.reload()
        return True

    async def follow(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(*_DATABASE_GONE):  # reported by the evaluator; try again next time
                await self.poll()
                progress()
            await sleep_or_stop(stop, POLL_SECONDS)


RULE_RELOADS: Key[ReloadBroadcast] = Key("rule_reloads")

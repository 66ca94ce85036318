"""The timer loop: claim due steps, perform each in the transaction that marks it done, sleep until the next.

Claiming with FOR UPDATE SKIP LOCKED lets any number of workers and replicas
share the table: a row is performed by whoever locked it, and marked done in
that same commit. After a crash nothing is held, so overdue rows are simply
due and fire on the first round, once.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import asyncpg
import msgspec
import structlog

from service.adapters.postgres.database import Database, DatabaseUnavailable, is_closed
from service.cancellation import reraise_if_cancelling
from service.clock import Clock
from service.dependencies import Key
from service.domain.escalation_schedule import StepKind
from service.domain.incidents import Incident, Status
from service.escalation import steps_store as store
from service.escalation.metrics import IDLE_POLLS, LATENESS, STEP_FAILURES, STEPS_PERFORMED
from service.escalation.performing import StepPerformer
from service.escalation.steps_store import StepRow
from service.supervisor import progress

log = structlog.get_logger(__name__)
RETRY_AFTER = timedelta(seconds=30)


class Round(msgspec.Struct, frozen=True):
    claimed: int
    performed: int
    skipped: int


class Wakeup:
    """Lets a committed incident change cut the workers' sleep short, from any thread or event loop."""

    def __init__(self) -> None:
        self._events: list[asyncio.Event] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, count: int = 1) -> list[asyncio.Event]:
        """One event per concurrent loop (replacing any bound before); a poke sets every one."""
        self._loop = asyncio.get_running_loop()
        self._events = [asyncio.Event() for _ in range(count)]
        return list(self._events)

    def poke(self) -> None:
        loop, events = self._loop, list(self._events)
        if loop is None or not events or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for event in events:
            if running is loop:
                event.set()
            else:
                loop.call_soon_threadsafe(event.set)


class EscalationWorker:
    def __init__(
        self,
        db: Database,
        performer: StepPerformer,
        clock: Clock,
        *,
        batch_size: int = 500,
        max_sleep: float = 1.0,
        wakeup: Wakeup | None = None,
        concurrency: int = 3,
    ) -> None:
        self.db = db
        self.performer = performer
        self.clock = clock
        self.batch_size = batch_size
        self.max_sleep = max_sleep
        self.wakeup = wakeup or Wakeup()
        self.concurrency = concurrency

    async def run_once(self) -> Round:
        """One batch in one transaction. The due rungs of triggered incidents (the bulk of a backlog) are
        performed together; if that raises, they go one by one with the rest, where a step that raises
        is rolled back alone and retried later."""
        incidents_service = self.performer.incidents
        async with incidents_service.transaction() as tx:
            conn = tx.conn
            rows = await store.claim_due(conn, self.clock(), self.batch_size)
            if not rows:
                IDLE_POLLS.inc()
                return Round(0, 0, 0)
            # Skipped incidents are being changed right now; their rows are retried on the next round.
            incidents = await incidents_service.lock_free_in(tx, sorted({r.incident_id for r in rows}))
            held = [(incidents[r.incident_id], r) for r in rows if r.incident_id in incidents]
            skipped = len(rows) - len(held)
            together, alone = _rungs_together(held)
            now = self.clock()
            performed = 0
            if together:
                try:
                    async with tx.savepoint():
                        await self.performer.climb_many(tx, together, now)
                except Exception as exc:
                    self._reraise_if_database(exc, conn)
                    log.exception("escalation_batch_failed", steps=len(together))
                    alone = together + alone
                else:
                    performed = len(together)
                    STEPS_PERFORMED.labels(kind=StepKind.ESCALATE.value).inc(performed)
                    for _, row in together:
                        LATENESS.observe(max(0.0, (now - row.due_at).total_seconds()))
            for incident, row in alone:
                now = self.clock()
                try:
                    async with tx.savepoint():
                        done = await self.performer.perform(tx, incident, row, now)
                except Exception as exc:
                    self._reraise_if_database(exc, conn)
                    STEP_FAILURES.labels(kind=row.kind.value).inc()
                    log.exception("escalation_step_failed", step_id=row.id, incident_id=row.incident_id)
                    await store.postpone(conn, row.id, now + RETRY_AFTER, f"{type(exc).__name__}: {exc}")
                    continue
                if done:
                    performed += 1
                    STEPS_PERFORMED.labels(kind=row.kind.value).inc()
                    LATENESS.observe(max(0.0, (now - row.due_at).total_seconds()))
        return Round(len(rows), performed, skipped)

    @staticmethod
    def _reraise_if_database(exc: Exception, conn: asyncpg.Connection) -> None:
        reraise_if_cancelling(exc)
        if isinstance(exc, DatabaseUnavailable) or is_closed(conn):
            raise exc  # the database went away, not this step: the supervisor retries the round

    async def seconds_until_due(self) -> float:
        async with self.db.connection() as conn:
            due = await store.next_due(conn)
        if due is None:
            return self.max_sleep
        return min(self.max_sleep, max(0.0, (due - self.clock()).total_seconds()))

    async def loop(self, stop: asyncio.Event) -> None:
        """`concurrency` rounds at a time, each claiming its own chunk (SKIP LOCKED): one chunk's
        statements run in PostgreSQL while the next chunk is being built here."""
        wakes = self.wakeup.bind(self.concurrency)
        try:  # one failing cancels the others, and the supervisor restarts them all
            async with asyncio.TaskGroup() as group:
                for wake in wakes:
                    group.create_task(self._drain(stop, wake))
        except BaseExceptionGroup as group_error:
            raise group_error.exceptions[0] from None

    async def _drain(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        while not stop.is_set():
            result = await self.run_once()
            progress()
            if result.claimed == self.batch_size and result.skipped < result.claimed:
                continue  # more may be due right now
            delay = await self.seconds_until_due()
            if result.skipped:
                delay = max(delay, 0.05)  # those rows wait for another transaction; do not spin on them
            if delay <= 0:
                continue
            wake.clear()
            stopper = asyncio.ensure_future(stop.wait())
            poked = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait({stopper, poked}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (stopper, poked):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


def _rungs_together(
    held: list[tuple[Incident, StepRow]],
) -> tuple[list[tuple[Incident, StepRow]], list[tuple[Incident, StepRow]]]:
    """The first due rung of each triggered incident, performed together; every other step alone."""
    together: list[tuple[Incident, StepRow]] = []
    alone: list[tuple[Incident, StepRow]] = []
    seen: set[int] = set()
    for incident, row in held:
        if row.kind is StepKind.ESCALATE and incident.status is Status.TRIGGERED and incident.id not in seen:
            seen.add(incident.id)
            together.append((incident, row))
        else:
            alone.append((incident, row))
    return together, alone


ESCALATION_WORKER: Key[EscalationWorker] = Key("escalation_worker")

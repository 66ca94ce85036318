"""The outbox sender: claims due intents and delivers them at least once, in order, without doubles.

Claim, send and mark happen in ONE transaction that holds the row lock for the
duration of the HTTP call (see store.claim). We chose this over a lease column
because a lease can expire while a slow send is still in flight, letting a
second replica send the same message; a row lock lasts exactly as long as the
sender is alive, and dies with it. The price is one pooled connection per
in-flight send, bounded by `concurrency` and the clients' 10 s timeouts.

`run` reads many due heads (one per target) in one round trip and sends to up to
`concurrency` targets at once; each send locks its row again in its own transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from service.adapters.postgres.database import Database, DatabaseUnavailable, is_closed
from service.clock import Clock
from service.dependencies import Key
from service.domain.delivery_retry import GiveUp
from service.domain.event_kinds import EventKind
from service.domain.notification_policy import DeliveryPolicy
from service.incidents.service import IncidentService, IncidentTransaction
from service.notifications import store
from service.notifications.metrics import DELIVERY_LATENCY, OUTBOX_ROWS, SENDS
from service.notifications.notifier import Notifier, Notifiers, Outcome, Plan
from service.notifications.outcomes import DeliveryError, NotConfigured
from service.notifications.pipeline.hold import hold, release_held, unknown_channel
from service.notifications.pipeline.pacing import SharedPacing
from service.notifications.pipeline.receipts import Receipts
from service.notifications.pipeline.retry import RetryStage
from service.notifications.pipeline.send import SendStage
from service.notifications.store import OutboxRow
from service.supervisor import CANCEL_GRACE, progress, sleep_or_stop

log = structlog.get_logger(__name__)

_CHANNEL = "incidentd_outbox"
_READ_AHEAD = 256


class Sender:
    def __init__(
        self,
        db: Database,
        incidents: IncidentService,
        notifiers: Notifiers,
        *,
        delivery: DeliveryPolicy,
        clock: Clock,
        concurrency: int = 12,
        poll_interval: float = 1.0,
    ) -> None:
        self._db = db
        self._incidents = incidents
        self._notifiers = notifiers
        self._clock = clock
        self._concurrency = concurrency
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._claim_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.pacing = SharedPacing(db)
        self._send = SendStage(db)
        self._receipts = Receipts(incidents)
        self._retry = RetryStage(delivery, self.pacing)
        self._failing: set[str] = set()  # "channel:target" whose last send here failed and may retry

    def wake(self) -> None:
        """Called after an incident commits; may run on another thread's loop in tests."""
        loop = self._loop
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if loop is not None and current is not loop:
            loop.call_soon_threadsafe(self._wake.set)
        elif loop is not None:
            self._wake.set()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """The supervised loop: release held intents whose credentials now exist, then deliver."""
        self._loop = asyncio.get_running_loop()
        await self.release_held()
        progress()
        listener = asyncio.create_task(self._listen(stop), name="outbox-listen")
        try:
            # A TaskGroup, not gather: one send failing must stop its siblings before the restart.
            async with asyncio.TaskGroup() as group:
                await self._dispatch(stop, group)
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        finally:
            await _cancel_within(listener, CANCEL_GRACE)

    async def _dispatch(self, stop: asyncio.Event, group: asyncio.TaskGroup) -> None:
        """Read many due heads per round trip and send up to `concurrency` of them at once.

        A read takes up to `_READ_AHEAD` heads (one per target) and is not repeated until they
        are all started: after an outage one query feeds about a second of sends.

        One target is in flight at a time here (its order and its pacing token stay simple); many
        targets are, so a backlog drains at the providers' limits rather than one send at a time.
        """
        busy: dict[tuple[str, str], asyncio.Task[None]] = {}
        finished = asyncio.Event()

        def done(key: tuple[str, str]) -> Callable[[asyncio.Task[None]], None]:
            def forget(_task: asyncio.Task[None]) -> None:
                busy.pop(key, None)
                finished.set()

            return forget

        queue: deque[OutboxRow] = deque()
        while not stop.is_set():
            progress()
            finished.clear()
            self._wake.clear()  # before the read: a commit during it wakes the next wait
            wait: float | None = None
            if not queue and len(busy) < self._concurrency:
                async with self._db.connection() as conn:
                    now = self._clock()
                    queue.extend(await store.due_heads(conn, now, _READ_AHEAD, list(busy)))
                    wait = None if queue else await self._idle_wait(conn, now)
            started = 0
            while queue and len(busy) < self._concurrency:
                head = queue.popleft()
                key = (head.channel, head.target)
                if key in busy:
                    continue
                task = group.create_task(self._deliver_head(head.id), name=f"outbox-{head.id}")
                busy[key] = task
                task.add_done_callback(done(key))
                started += 1
            if started and not queue:
                continue
            waits = (
                [stop.wait()] + ([finished.wait()] if busy else []) + ([] if queue else [self._wake.wait()])
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first_of(*waits), timeout=wait)
        if busy:
            await asyncio.wait(list(busy.values()))

    async def _idle_wait(self, conn: asyncpg.Connection, now: datetime) -> float:
        """Until the next paced target has a token, at most one poll interval (jittered)."""
        poll = self._poll * random.uniform(0.8, 1.2)  # noqa: S311
        unblock = await store.next_unblock(conn, now)
        if unblock is None:
            return poll
        return max(0.005, min(poll, (unblock - now).total_seconds()))

    async def _deliver_head(self, row_id: int) -> None:
        async with self._incidents.transaction() as tx:
            now = self._clock()
            head = await store.lock_head(tx.conn, row_id, now)
            if head is not None:
                await self._deliver(tx, head, now)

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN on a connection of its own while it lives; polling covers the gaps between."""
        while not stop.is_set():
            lost = asyncio.Event()
            dropped = _setter(lost)
            try:
                async with self._db.connection() as conn:
                    conn.add_termination_listener(dropped)
                    await conn.add_listener(_CHANNEL, self._on_notify)
                    try:
                        self._wake.set()  # whatever committed while nobody listened
                        await _first_of(stop.wait(), lost.wait())
                    finally:
                        if not is_closed(conn):
                            conn.remove_termination_listener(dropped)
                            await conn.remove_listener(_CHANNEL, self._on_notify)
            except DatabaseUnavailable as exc:
                log.warning("outbox_listen_failed", error=str(exc))
            if lost.is_set():
                log.warning("outbox_listen_connection_lost")
            if await sleep_or_stop(stop, 1.0 if lost.is_set() else 5.0):
                return

    async def update_gauges(self, conn: asyncpg.Connection) -> None:
        """Read at scrape time, on the scraper's connection, so the gauge shows the table as it is."""
        found = await store.counts(conn)
        for status in ("pending", "held", "dead"):
            OUTBOX_ROWS.labels(status=status).set(found.get(status, 0))

    async def release_held(self) -> int:
        async with self._db.transaction() as conn:
            return await release_held(conn, self._notifiers, self._clock())

    async def drain(self, max_rounds: int = 10_000) -> int:
        """Deliver everything due now (tests and the CLI); returns how many sends were attempted."""
        done = 0
        while done < max_rounds and await self.process_one():
            done += 1
        return done

    async def process_one(self) -> bool:
        """One pass of the pipeline over the oldest due intent; False when nothing was due."""
        async with self._incidents.transaction() as tx:
            async with self._claim_lock:
                now = self._clock()
                head = await store.claim(tx.conn, now)
                if head is None:
                    return False
            await self._deliver(tx, head, now)
        return True

    async def _deliver(self, tx: IncidentTransaction, head: OutboxRow, now: datetime) -> None:
        """Hold, pace, send, record or retry one locked head, in its sending transaction."""
        conn = tx.conn
        if head.channel not in self._notifiers:
            await hold(conn, head.channel, None, unknown_channel(head.channel))
            return
        notifier = self._notifiers[head.channel]
        pacing = notifier.pacing
        if pacing is not None:
            taken = await self.pacing.take(head.channel, head.target, pacing, now)
            if not taken.allowed:
                return  # another replica spent the token; the claim now skips this target
        await self._attempt(tx, notifier, head)

    async def _attempt(self, tx: IncidentTransaction, notifier: Notifier, head: OutboxRow) -> None:
        conn = tx.conn
        now = self._clock()
        plan = await notifier.plan(conn, head, now)
        try:
            outcome = await self._send(conn, notifier, head, plan, self._clock())
        except NotConfigured as exc:
            await hold(conn, head.channel, notifier.hold_scope(head.target), str(exc))
            return
        except DeliveryError as exc:
            decision = await self._retry(conn, notifier, head, exc, self._clock())
            if isinstance(decision, GiveUp):
                await self._receipts.record(tx, head, EventKind.NOTIFICATION_FAILED, str(exc))
            else:
                self._failing.add(f"{head.channel}:{head.target}")
            return
        await self._record(tx, head, plan, outcome, now)

    async def _record(
        self, tx: IncidentTransaction, head: OutboxRow, plan: Plan, outcome: Outcome, started: datetime
    ) -> None:
        conn = tx.conn
        done = self._clock()
        batch = list(plan.batch)
        await store.mark(conn, [r.id for r in batch], "sent", done)
        await self._target_back(conn, head, done)
        if outcome.coalesced:
            await store.mark(conn, outcome.coalesced, "coalesced", done)
            SENDS.labels(channel=head.channel, outcome="coalesced").inc(len(outcome.coalesced))
        if outcome.receipt:
            await self._receipts.record(tx, head, EventKind.NOTIFICATION_SENT)
        for row in batch:
            SENDS.labels(channel=row.channel, outcome="sent").inc()
            DELIVERY_LATENCY.labels(channel=row.channel).observe(
                max(0.0, (done - row.created_at).total_seconds())
            )
        log.info(
            "notification_sent",
            id=head.id,
            channel=head.channel,
            kind=head.kind,
            target=head.target,
            batch=len(batch),
            attempts=head.attempts + 1,
            latency_s=round((done - started).total_seconds(), 3),
        )

    async def _target_back(self, conn: asyncpg.Connection, head: OutboxRow, now: datetime) -> None:
        """After a success that follows failures (here, or of this row on any replica), retry the rest now."""
        key = f"{head.channel}:{head.target}"
        if head.attempts == 0 and key not in self._failing:
            return
        self._failing.discard(key)
        released = await store.retry_backing_off(conn, head.channel, head.target, now)
        if released:
            log.info("notification_target_back", channel=head.channel, target=head.target, due_now=released)


SENDER: Key[Sender] = Key("notification_sender")


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    return lambda _connection: event.set()


async def _first_of(*waits: Coroutine[Any, Any, object]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _cancel_within(task: asyncio.Task[None], grace: float) -> None:
    """Cancel a helper task and wait a bounded time: a task that ignores it must not hold us up."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        log.error("task_ignored_cancellation", task=task.get_name())
    elif not task.cancelled() and task.exception() is not None:
        log.warning("task_failed", task=task.get_name(), error=repr(task.exception()))

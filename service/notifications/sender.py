"""The outbox sender: claims due intents and delivers them at least once, in order, without doubles.

Claim, send and mark happen in ONE transaction that holds the row lock for the
duration of the HTTP call (see store.claim). We chose this over a lease column
because a lease can expire while a slow send is still in flight, letting a
second replica send the same message; a row lock lasts exactly as long as the
sender is alive, and dies with it. The price is one pooled connection per
in-flight send, bounded by `concurrency` and the clients' 10 s timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog

from service.adapters.postgres.database import Database, DatabaseUnavailable, is_closed
from service.clock import Clock
from service.dependencies import Key
from service.domain.incidents import Actor
from service.domain.notification_policy import DeliveryPolicy
from service.incidents.service import IncidentService, IncidentTransaction
from service.notifications import store
from service.notifications.metrics import DELIVERY_LATENCY, OUTBOX_ROWS, SENDS
from service.notifications.notifier import Attempt, Notifier, Notifiers, Outcome, Plan, UnknownChannel
from service.notifications.outcomes import DeliveryError, NotConfigured
from service.notifications.store import OutboxRow
from service.supervisor import CANCEL_GRACE, progress, sleep_or_stop

log = structlog.get_logger(__name__)

SYSTEM = Actor(name="notifications", source="system")
_CHANNEL = "incidentd_outbox"


class Sender:
    def __init__(
        self,
        db: Database,
        incidents: IncidentService,
        notifiers: Notifiers,
        *,
        delivery: DeliveryPolicy,
        clock: Clock,
        concurrency: int = 4,
        poll_interval: float = 1.0,
    ) -> None:
        self._db = db
        self._incidents = incidents
        self._notifiers = notifiers
        self._delivery = delivery
        self._clock = clock
        self._concurrency = concurrency
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._claim_lock = asyncio.Lock()
        self._paused: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = (
            None  # "channel:target" -> monotonic time it may send again
        )

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

    def _paused_keys(self) -> list[str]:
        now = time.monotonic()
        self._paused = {k: t for k, t in self._paused.items() if t > now}
        return list(self._paused)

    def _pause(self, key: str, seconds: float) -> None:
        self._paused[key] = max(self._paused.get(key, 0.0), time.monotonic() + seconds)

    async def run(self, stop: asyncio.Event) -> None:
        """The supervised loop: release held intents whose credentials now exist, then deliver."""
        self._loop = asyncio.get_running_loop()
        await self.release_held()
        progress()
        listener = asyncio.create_task(self._listen(stop), name="outbox-listen")
        try:
            # A TaskGroup, not gather: one slot failing must stop its siblings before the restart.
            async with asyncio.TaskGroup() as group:
                for _ in range(self._concurrency):
                    group.create_task(self._slot(stop))
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        finally:
            await _cancel_within(listener, CANCEL_GRACE)

    async def _slot(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            sent = await self.process_one()
            progress()
            if sent:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll * random.uniform(0.8, 1.2))  # noqa: S311

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
        released = 0
        async with self._db.transaction() as conn:
            for channel, target in await store.held_targets(conn):
                if channel in self._notifiers and self._notifiers[channel].ready(target):
                    released += await store.release(conn, channel, target, self._clock())
        if released:
            log.info("notifications_released", count=released)
        return released

    async def drain(self, max_rounds: int = 10_000) -> int:
        """Deliver everything due now (tests and the CLI); returns how many sends were attempted."""
        done = 0
        while done < max_rounds and await self.process_one():
            done += 1
        return done

    async def process_one(self) -> bool:
        async with self._incidents.transaction() as tx:
            conn = tx.conn
            async with self._claim_lock:
                now = self._clock()
                head = await store.claim(conn, now, self._paused_keys())
                if head is None:
                    return False
                try:
                    notifier = self._notifiers[head.channel]
                except UnknownChannel:
                    notifier = None
                pacing = notifier.pacing if notifier is not None else None
                if pacing is not None and pacing.burst <= 1:  # bursts: shared buckets, next step
                    self._pause(f"{head.channel}:{head.target}", 1.0 / pacing.rate)
            if notifier is None:
                reason = f"no channel plug-in named {head.channel!r} is registered"
                held = await store.hold_channel(conn, head.channel, None, reason)
                log.warning("notification_held", channel=head.channel, reason=reason, count=held)
                return True
            await self._attempt(tx, notifier, head)
        return True

    async def _attempt(self, tx: IncidentTransaction, notifier: Notifier, head: OutboxRow) -> None:
        now = self._clock()
        conn = tx.conn
        plan = await notifier.plan(conn, head, now)
        batch = list(plan.batch)
        try:
            coalesced = await self._send(tx, notifier, head, plan)
        except NotConfigured as exc:
            held = await store.hold_channel(conn, head.channel, notifier.hold_scope(head.target), str(exc))
            SENDS.labels(channel=head.channel, outcome="held").inc(held)
            log.warning(
                "notification_held", channel=head.channel, target=head.target, reason=str(exc), count=held
            )
            return
        except DeliveryError as exc:
            await self._failed(tx, notifier, head, exc)
            return
        done = self._clock()
        await store.mark(conn, [r.id for r in batch], "sent", done)
        if coalesced:
            await store.mark(conn, coalesced, "coalesced", done)
            SENDS.labels(channel=head.channel, outcome="coalesced").inc(len(coalesced))
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
            latency_s=round((done - now).total_seconds(), 3),
        )

    async def _send(
        self, tx: IncidentTransaction, notifier: Notifier, head: OutboxRow, plan: Plan
    ) -> Sequence[int]:
        """Deliver; returns ids of other rows this send stood for (storm members)."""
        now = self._clock()
        maybe_sent = await self._note_attempt(tx.conn, head, now)
        attempt = Attempt(head=head, plan=plan, conn=tx.conn, now=now, maybe_sent=maybe_sent)
        outcome: Outcome = notifier.interpret(attempt, await notifier.send(attempt))
        if outcome.receipt:
            await self._receipt(tx, head, "notification_sent", {})
        return outcome.coalesced

    async def _note_attempt(self, conn: asyncpg.Connection, head: OutboxRow, now: datetime) -> bool:
        """Commit "about to call the provider" first, on a connection of its own; True when an earlier
        call for this row started but its outcome never committed (a crash): it may have been sent."""
        async with self._db.connection() as own:
            started = await store.record_attempt(own, head.id, now)
        maybe_sent = started - 1 > head.attempts
        if maybe_sent:
            # Counted as attempts in the sending transaction: once this one's outcome commits, the
            # crashed calls are accounted for; if this process dies too, the next one sees it again.
            await store.count_attempts(conn, head.id, started - 1)
            log.warning(
                "notification_maybe_sent_before",
                id=head.id,
                channel=head.channel,
                kind=head.kind,
                note="an earlier attempt's outcome was not recorded; sending again (PagerDuty dedups by key)",
            )
        return maybe_sent

    async def _failed(
        self, tx: IncidentTransaction, notifier: Notifier, head: OutboxRow, exc: DeliveryError
    ) -> None:
        now = self._clock()
        conn = tx.conn
        attempts = head.attempts + 1
        too_old = now - head.created_at >= self._delivery.max_age
        if exc.retry and attempts < self._delivery.max_attempts and not too_old:
            if exc.retry_after is not None:
                delay = exc.retry_after * random.uniform(1.0, 1.1)  # noqa: S311
                self._pause(f"{head.channel}:{head.target}", exc.retry_after)
            else:
                base = self._delivery.backoff_initial.total_seconds() * 2 ** (attempts - 1)
                delay = min(self._delivery.backoff_max.total_seconds(), base) * random.uniform(0.5, 1.0)  # noqa: S311
            await store.reschedule(conn, head.id, now + timedelta(seconds=delay), str(exc))
            await notifier.after_retry(conn, head, now + timedelta(seconds=delay))
            SENDS.labels(channel=head.channel, outcome="retry").inc()
            log.warning(
                "notification_retry",
                id=head.id,
                channel=head.channel,
                error=str(exc),
                attempts=attempts,
                retry_in_s=round(delay, 2),
            )
            return
        await store.fail(conn, head.id, str(exc))
        SENDS.labels(channel=head.channel, outcome="dead").inc()
        log.error(
            "notification_dead",
            id=head.id,
            channel=head.channel,
            kind=head.kind,
            error=str(exc),
            attempts=attempts,
        )
        await self._receipt(tx, head, "notification_failed", {"error": str(exc)})

    async def _receipt(
        self, tx: IncidentTransaction, row: OutboxRow, kind: str, extra: dict[str, object]
    ) -> None:
        if row.incident_id is None:
            return
        incident = await self._incidents.find_in(tx, row.incident_id)
        if incident is None:
            return
        data = {"channel": row.channel, "kind": row.kind, "target": row.target, "outbox_id": row.id, **extra}
        await self._incidents.record_in(tx, incident, kind, SYSTEM, data)


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

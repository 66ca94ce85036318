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
from datetime import timedelta

import structlog

from service.adapters.postgres.database import Database
from service.clock import Clock
from service.dependencies import Key
from service.domain.incidents import Actor
from service.domain.notification_policy import DeliveryPolicy
from service.incidents.service import IncidentService, IncidentTransaction
from service.notifications import store
from service.notifications.channels.pagerduty.delivery import PagerDutyDelivery
from service.notifications.channels.slack.delivery import SlackDelivery
from service.notifications.metrics import DELIVERY_LATENCY, OUTBOX_ROWS, SENDS
from service.notifications.outcomes import DeliveryError, NotConfigured
from service.notifications.store import OutboxRow
from service.supervisor import sleep_or_stop

log = structlog.get_logger(__name__)

SYSTEM = Actor(name="notifications", source="system")
_RECEIPT_KINDS = frozenset({("pagerduty", "trigger"), ("pagerduty", "acknowledge"), ("pagerduty", "resolve")})


class Sender:
    def __init__(
        self,
        db: Database,
        incidents: IncidentService,
        pagerduty: PagerDutyDelivery,
        slack: SlackDelivery,
        *,
        delivery: DeliveryPolicy,
        slack_min_interval: float,
        clock: Clock,
        concurrency: int = 4,
        poll_interval: float = 1.0,
    ) -> None:
        self._db = db
        self._incidents = incidents
        self._pd = pagerduty
        self._slack = slack
        self._delivery = delivery
        self._slack_interval = slack_min_interval
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
        listener = asyncio.create_task(self._listen(stop))
        try:
            # A TaskGroup, not gather: one slot failing must stop its siblings before the restart.
            async with asyncio.TaskGroup() as group:
                for _ in range(self._concurrency):
                    group.create_task(self._slot(stop))
                group.create_task(self._gauges(stop))
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def _slot(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if await self.process_one():
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll * random.uniform(0.8, 1.2))  # noqa: S311

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN on a dedicated connection; polling covers any notification lost while reconnecting."""
        while not stop.is_set():
            try:
                async with self._db.connection() as conn:
                    await conn.add_listener("incidentd_outbox", self._on_notify)
                    try:
                        await stop.wait()
                    finally:
                        await conn.remove_listener("incidentd_outbox", self._on_notify)
            except Exception as exc:  # the poll keeps delivering; just retry the LISTEN later
                log.warning("outbox_listen_failed", error=type(exc).__name__)
                if await sleep_or_stop(stop, 5.0):
                    return

    async def _gauges(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                await self.update_gauges()
            if await sleep_or_stop(stop, 5.0):
                return

    async def update_gauges(self) -> None:
        async with self._db.connection() as conn:
            found = await store.counts(conn)
        for status in ("pending", "held", "dead"):
            OUTBOX_ROWS.labels(status=status).set(found.get(status, 0))

    async def release_held(self) -> int:
        released = 0
        async with self._db.transaction() as conn:
            for channel, target in await store.held_targets(conn):
                ok = self._slack.configured if channel == "slack" else self._pd.routable(target)
                if ok:
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
                if head.channel == "slack" and self._slack_interval > 0:
                    self._pause(f"slack:{head.target}", self._slack_interval)
            batch = [head]
            if head.channel == "slack" and head.kind in {"post", "update"}:
                batch += await store.claim_followers(conn, head, now)
            await self._attempt(tx, head, batch)
        return True

    async def _attempt(self, tx: IncidentTransaction, head: OutboxRow, batch: list[OutboxRow]) -> None:
        now = self._clock()
        conn = tx.conn
        try:
            coalesced = await self._send(tx, head, batch)
        except NotConfigured as exc:
            held = await store.hold_channel(
                conn, head.channel, head.target if head.channel != "slack" else None, str(exc)
            )
            SENDS.labels(channel=head.channel, outcome="held").inc(held)
            log.warning(
                "notification_held", channel=head.channel, target=head.target, reason=str(exc), count=held
            )
            return
        except DeliveryError as exc:
            await self._failed(tx, head, exc)
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

    async def _send(self, tx: IncidentTransaction, head: OutboxRow, batch: list[OutboxRow]) -> list[int]:
        """Deliver; returns ids of other rows this send stood for (storm members)."""
        now = self._clock()
        conn = tx.conn
        if head.channel == "pagerduty":
            await self._pd.send(head.kind, head.target, head.payload)
            if (head.channel, head.kind) in _RECEIPT_KINDS:
                await self._receipt(tx, head, "notification_sent", {})
            return []
        if head.kind == "notice":
            await self._slack.post_notice(head.target, head.payload)
            return []
        if head.kind == "storm_summary":
            members = await store.claim_storm_members(conn, str(head.payload["storm_key"]))
            if members:
                await self._slack.post_summary(
                    channel=head.target,
                    interval_seconds=float(head.payload.get("interval_seconds", 0)),
                    members=[(m.incident_id or 0, m.payload["snapshot"]) for m in members],
                    now=now,
                )
            return [m.id for m in members]
        assert head.incident_id is not None
        result = await self._slack.post_or_update(
            conn,
            incident_id=head.incident_id,
            channel=head.target,
            snapshot=batch[-1].payload["snapshot"],
            changes=[line for row in batch for line in row.payload.get("changes", [])],
            now=now,
        )
        if result == "posted":
            await self._receipt(tx, head, "notification_sent", {})
        return []

    async def _failed(self, tx: IncidentTransaction, head: OutboxRow, exc: DeliveryError) -> None:
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

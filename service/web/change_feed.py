"""Which incidents just changed, from PostgreSQL's LISTEN/NOTIFY, fanned out to open pages.

Triggers NOTIFY `incidentd_incident` with the incident id whenever a timeline event is
written or a delivery changes status, whichever replica or worker wrote it. One
listening connection per process feeds every open page of that process. While the
listener is down (database restart, network), subscribers are told to refresh every
`degraded_every` seconds instead, so a page goes stale for seconds, not forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

import asyncpg
import structlog

from service.adapters.postgres.database import CONNECT_ERRORS
from service.dependencies import Key

log = structlog.get_logger(__name__)
CHANNEL = "incidentd_incident"
APPLICATION_NAME = "incidentd-change-feed"


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class ChangeFeed:
    def __init__(self, database_url: str, *, degraded_every: float = 2.0, retry_every: float = 1.0) -> None:
        self._url = database_url
        self._degraded_every = degraded_every
        self._retry_every = retry_every
        self._subscribers: dict[int, set[asyncio.Queue[str]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.connected = asyncio.Event()

    def _deliver(self, incident_id: int, reason: str) -> None:
        for queue in self._subscribers.get(incident_id, ()):
            if queue.empty():  # one pending wake-up is enough: the page re-reads everything
                queue.put_nowait(reason)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload.isdigit():
            self._deliver(int(payload), "changed")

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(self._listen(), name="web-change-feed")

    async def _listen(self) -> None:
        while not self._stopping.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self._url, timeout=5, server_settings={"application_name": APPLICATION_NAME}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self.connected.set()
                for incident_id in list(self._subscribers):  # whatever happened while we were away
                    self._deliver(incident_id, "resync")
                while not self._stopping.is_set() and not lost.is_set():
                    await _first_of(self._stopping, lost, timeout=5)
                    if not (lost.is_set() or conn.is_closed()):
                        await conn.execute("SELECT 1")  # notices a silently dead network path
            except (*CONNECT_ERRORS, asyncpg.PostgresError) as exc:
                log.warning("change_feed_down", error=type(exc).__name__)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(*CONNECT_ERRORS):
                        await conn.close(timeout=2)
            if not self._stopping.is_set():
                await asyncio.sleep(self._retry_every)

    @contextlib.asynccontextmanager
    async def subscribe(self, incident_id: int) -> AsyncIterator[asyncio.Queue[str]]:
        self._ensure_running()
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        self._subscribers[incident_id].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[incident_id].discard(queue)
            if not self._subscribers[incident_id]:
                del self._subscribers[incident_id]

    async def next_change(self, queue: asyncio.Queue[str], heartbeat: float) -> str | None:
        """The reason of the next wake-up, or None after `heartbeat` seconds of quiet.

        While the listener is down, 'poll' comes every `degraded_every` seconds instead.
        """
        timeout = heartbeat if self.connected.is_set() else min(heartbeat, self._degraded_every)
        try:
            return await asyncio.wait_for(queue.get(), timeout=timeout)
        except TimeoutError:
            return None if self.connected.is_set() else "poll"

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    async def close(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


WEB_FEED: Key[ChangeFeed] = Key("web_feed")

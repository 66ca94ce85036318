"""Long-running background loops that restart themselves, and a watchdog that notices when one is stuck.

A worker that crashes (database gone, a bug on one bad row) is logged, backs
off and starts again; the rest of the service keeps answering. State lives in
PostgreSQL, so a restarted loop simply picks up where the table says.

A worker that neither crashes nor progresses is worse: nothing is logged and
nothing is sent. Each loop calls `progress()` after every round (work done or
none found); when a worker has not done so within its `stall_after`, the
watchdog logs it, shows it on /readyz and in
`incidentd_worker_last_progress_seconds`, cancels it and starts it afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

import structlog
from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from service.adapters.postgres.database import DatabaseUnavailable

log = structlog.get_logger(__name__)

Loop = Callable[[asyncio.Event], Awaitable[None]]

# While the database is away a worker retries at least this often, so it is back within seconds.
DATABASE_RETRY_MAX = 5.0
# How long a cancelled worker may take to finish before it is abandoned and replaced.
CANCEL_GRACE = 5.0

RESTARTS = Counter(
    "incidentd_worker_restarts_total",
    "Background worker restarts, by worker and reason",
    ["worker", "reason"],
)


@dataclass(frozen=True)
class Worker:
    """A supervised loop; `stall_after` is the most seconds it may go without calling `progress()`."""

    name: str
    loop: Loop
    stall_after: float | None = 60.0


@dataclass
class _Watched:
    name: str
    stall_after: float | None
    last_progress: float = field(default_factory=time.monotonic)
    running: bool = False
    finished: bool = False
    failure: str | None = None  # why it last failed; cleared by its first round after a restart
    stalled: asyncio.Event = field(default_factory=asyncio.Event)

    def beat(self) -> None:
        self.last_progress = time.monotonic()
        self.failure = None

    def silent_for(self) -> float:
        return time.monotonic() - self.last_progress

    def overdue(self) -> bool:
        return self.running and self.stall_after is not None and self.silent_for() > self.stall_after


_HEARTBEAT: ContextVar[_Watched | None] = ContextVar("worker_heartbeat", default=None)


def progress() -> None:
    """Tell the watchdog the current worker (and any task it started) just completed a round."""
    watched = _HEARTBEAT.get()
    if watched is not None:
        watched.beat()


class Supervisor:
    def __init__(self, *, watchdog_interval: float = 1.0, cancel_grace: float = CANCEL_GRACE) -> None:
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._abandoned: set[asyncio.Task[None]] = set()
        self._watched: dict[str, _Watched] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._watchdog_interval = watchdog_interval
        self._cancel_grace = cancel_grace
        _LIVE.add(self)

    @property
    def stopping(self) -> asyncio.Event:
        return self._stop

    def start(
        self, name: str, loop: Loop, *, max_backoff: float = 30.0, stall_after: float | None = None
    ) -> None:
        watched = _Watched(name, stall_after)
        self._watched[name] = watched
        self._tasks.append(asyncio.create_task(self._run(watched, loop, max_backoff), name=name))
        if stall_after is not None and self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch(), name="worker-watchdog")

    def start_worker(self, worker: Worker) -> None:
        self.start(worker.name, worker.loop, stall_after=worker.stall_after)

    @property
    def failures(self) -> dict[str, str]:
        """Workers whose last run failed and that have not completed a round since."""
        return {w.name: w.failure for w in self._watched.values() if w.failure is not None}

    def stalled(self) -> dict[str, str]:
        """Workers past their bound right now, with what a person needs to know."""
        return {
            w.name: f"no progress for {w.silent_for():.0f}s (bound {w.stall_after:g}s)"
            for w in self._watched.values()
            if w.overdue() and w.stall_after is not None
        }

    def last_progress(self) -> Iterator[tuple[str, float]]:
        """Workers under a bound that have not finished; a finished one (migrations) has nothing to show."""
        if self._stop.is_set():
            return
        for watched in self._watched.values():
            if watched.stall_after is not None and not watched.finished:
                yield watched.name, watched.silent_for()

    async def _run(self, watched: _Watched, loop: Loop, max_backoff: float) -> None:
        backoff = 0.5
        name = watched.name
        while not self._stop.is_set():
            delay = backoff * random.uniform(0.8, 1.2)  # noqa: S311
            started = time.monotonic()
            try:
                await self._once(watched, loop)
                watched.finished = True
                return
            except _Stalled as exc:
                watched.failure = str(exc)
                delay = 0.0
            except DatabaseUnavailable as exc:
                watched.failure = str(exc)
                delay = min(delay, DATABASE_RETRY_MAX)
                RESTARTS.labels(worker=name, reason="database").inc()
                log.warning(
                    "worker_waiting_for_database", worker=name, error=str(exc), retry_in=round(delay, 1)
                )
            except Exception as exc:
                watched.failure = f"{type(exc).__name__}: {exc}"
                RESTARTS.labels(worker=name, reason="crash").inc()
                log.exception("worker_crashed", worker=name, retry_in=round(delay, 1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
            # Back off only while it keeps failing at once; a worker that ran a while starts over.
            backoff = 0.5 if watched.last_progress > started + 1.0 else min(backoff * 2, max_backoff)

    async def _once(self, watched: _Watched, loop: Loop) -> None:
        """Run the loop as a child task, so the watchdog can replace it without stopping supervision."""
        watched.stalled.clear()
        watched.last_progress = time.monotonic()
        watched.running = True
        token = _HEARTBEAT.set(watched)
        try:
            inner = asyncio.create_task(_drive(loop, self._stop), name=f"{watched.name}-loop")
        finally:
            _HEARTBEAT.reset(token)
        stall = asyncio.create_task(watched.stalled.wait())
        try:
            try:
                await asyncio.wait({inner, stall}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stall.cancel()
                if not inner.done():
                    inner.cancel()  # our own cancellation (shutdown) or the watchdog's verdict
            if not inner.done():
                await self._replace(watched, inner)
        finally:
            watched.running = False  # still shown as stuck until it has finished or been abandoned
        await inner  # its outcome: returns, or raises what the loop raised

    async def _replace(self, watched: _Watched, inner: asyncio.Task[None]) -> None:
        silent = watched.silent_for()
        RESTARTS.labels(worker=watched.name, reason="stalled").inc()
        log.error(
            "worker_stalled_restarting",
            worker=watched.name,
            silent_s=round(silent, 1),
            bound_s=watched.stall_after,
        )
        done, _ = await asyncio.wait({inner}, timeout=self._cancel_grace)
        if not done:
            # It swallowed its cancellation; keep a reference so it is not collected mid-flight.
            self._abandoned.add(inner)
            inner.add_done_callback(self._abandoned.discard)
            log.error("worker_ignored_cancellation", worker=watched.name)
        raise _Stalled(f"no progress for {silent:.0f}s; restarted")

    async def _watch(self) -> None:
        while not self._stop.is_set():
            for watched in self._watched.values():
                if watched.overdue() and not watched.stalled.is_set():
                    watched.stalled.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._watchdog_interval)

    async def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        tasks = [*self._tasks, *([self._watchdog] if self._watchdog is not None else [])]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=self._cancel_grace)
        self._tasks.clear()
        self._watchdog = None


async def _drive(loop: Loop, stop: asyncio.Event) -> None:
    await loop(stop)


class _Stalled(Exception):
    """The watchdog replaced a worker that stopped making progress."""


class _ProgressCollector(Collector):
    """Seconds since each worker's last round, computed at scrape time so it can never freeze."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "incidentd_worker_last_progress_seconds",
            "Seconds since each background worker last completed a round (it is restarted past its bound)",
            labels=["worker"],
        )
        ages: dict[str, float] = {}
        for supervisor in list(_LIVE):
            for name, age in supervisor.last_progress():
                ages[name] = min(age, ages.get(name, age))
        for name, age in sorted(ages.items()):
            family.add_metric([name], age)
        yield family


_LIVE: weakref.WeakSet[Supervisor] = weakref.WeakSet()
REGISTRY.register(_ProgressCollector())


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep, waking early on shutdown; returns True when the service is stopping."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True

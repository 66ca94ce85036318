"""Long-running background loops that restart themselves.

A worker that crashes (database gone, a bug on one bad row) is logged, backs
off and starts again; the rest of the service keeps answering. State lives in
PostgreSQL, so a restarted loop simply picks up where the table says.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable

import structlog

from service.adapters.postgres.database import DatabaseUnavailable

log = structlog.get_logger(__name__)

Loop = Callable[[asyncio.Event], Awaitable[None]]


class Supervisor:
    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.failures: dict[str, str] = {}

    @property
    def stopping(self) -> asyncio.Event:
        return self._stop

    def start(self, name: str, loop: Loop, *, max_backoff: float = 30.0) -> None:
        self._tasks.append(asyncio.create_task(self._run(name, loop, max_backoff), name=name))

    async def _run(self, name: str, loop: Loop, max_backoff: float) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                await loop(self._stop)
                self.failures.pop(name, None)
                return
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailable as exc:
                self.failures[name] = str(exc)
                log.warning(
                    "worker_waiting_for_database", worker=name, error=str(exc), retry_in=round(backoff, 1)
                )
            except Exception as exc:
                self.failures[name] = f"{type(exc).__name__}: {exc}"
                log.exception("worker_crashed", worker=name, retry_in=round(backoff, 1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=backoff * random.uniform(0.8, 1.2))  # noqa: S311
            backoff = min(backoff * 2, max_backoff)

    async def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep, waking early on shutdown; returns True when the service is stopping."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True

"""Group commit for pushed batches: what arrives while one transaction runs is written by the next one.

Prometheus posts many small batches at once (64 alerts, several in flight per Alertmanager);
one transaction each means one commit, one set of round trips and one set of row locks
each, and concurrent batches queueing on the same incident rows. Here at most `writers`
lots are written at once; a writer takes everything submitted so far, writes it in one
transaction and answers every submitter when it has committed, so each request still gets
its 200 only once its alerts are durable, and a failure reaches every request of that lot
(their senders retry).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    def __init__(
        self, write: Callable[[list[T]], Awaitable[None]], *, most: int = 4096, writers: int = 1
    ) -> None:
        self._write = write
        self._most = most
        self._writers = writers
        self._pending: list[tuple[Sequence[T], asyncio.Future[None]]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, items: Sequence[T]) -> None:
        """Returns once `items` are written (or raises what the write raised)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((items, done))
        if len(self._running) < self._writers:
            task = asyncio.create_task(self._drain())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        await asyncio.shield(done)  # a caller that gives up does not cancel the others' write

    def _take(self) -> list[tuple[Sequence[T], asyncio.Future[None]]]:
        lot: list[tuple[Sequence[T], asyncio.Future[None]]] = []
        size = 0
        while self._pending and (not lot or size + len(self._pending[0][0]) <= self._most):
            entry = self._pending.pop(0)
            lot.append(entry)
            size += len(entry[0])
        return lot

    async def _drain(self) -> None:
        while self._pending:
            lot = self._take()
            try:
                await self._write([item for items, _ in lot for item in items])
            except BaseException as exc:
                for _, done in lot:
                    if not done.done():
                        done.set_exception(exc)
                if not isinstance(exc, Exception):  # cancelled (shutting down): nobody is left waiting
                    for _, waiting in self._pending:
                        waiting.set_exception(exc)
                    self._pending.clear()
                    raise
            else:
                for _, done in lot:
                    if not done.done():
                        done.set_result(None)

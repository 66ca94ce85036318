"""One autocommitted statement whose answer is used as soon as PostgreSQL has committed it.

Handing a connection back to the pool costs one more round trip (asyncpg resets its session
state), and on a busy machine that round trip is as long as the statement itself. Prometheus'
next batch need not wait for it: the statement's result, which PostgreSQL sends only once it
has committed, is the caller's; the connection is given back meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog

from service.adapters.postgres.database import Database

T = TypeVar("T")
log = structlog.get_logger(__name__)
_RELEASING: set[asyncio.Task[None]] = set()


async def committed(db: Database, statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`statement` runs outside any transaction (so it has committed when it returns); whatever it raises
    is raised here; a failure while giving the connection back is only logged (asyncpg has then closed
    that connection, and the pool opens another)."""
    answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    async def run() -> None:
        try:
            async with db.connection() as conn:
                try:
                    result = await statement(conn)
                except BaseException as exc:
                    answer.set_exception(exc)
                    raise
                answer.set_result(result)
        except BaseException as exc:
            if not answer.done():
                answer.set_exception(exc)  # the connection itself failed
            elif answer.exception() is not exc:
                log.warning("connection_release_failed", error=type(exc).__name__)
            if not isinstance(exc, Exception):
                raise  # cancelled (shutting down)

    task = asyncio.create_task(run())
    _RELEASING.add(task)
    task.add_done_callback(_finished)
    return await asyncio.shield(answer)


def _finished(task: asyncio.Task[None]) -> None:
    _RELEASING.discard(task)
    if not task.cancelled():
        task.exception()  # already handed to the caller or logged: retrieved here so asyncio says nothing

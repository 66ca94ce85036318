"""Cancellation that cleanup cannot swallow.

When a task is cancelled while it holds a connection to a dead server, the
cleanup (ROLLBACK, UNLISTEN, release) fails too, and Python lets that second
error replace the `CancelledError`. A loop that catches `Exception` then goes
on as if nothing asked it to stop, and whoever awaits it waits forever. Code
that catches broadly calls `reraise_if_cancelling` first.
"""

from __future__ import annotations

import asyncio


def cancelling() -> bool:
    """True when someone has asked the current task to stop and it has not yet complied."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return False
    return task is not None and task.cancelling() > 0


def reraise_if_cancelling(exc: BaseException) -> None:
    """Turn an error raised while the task was being cancelled back into the cancellation."""
    if not isinstance(exc, asyncio.CancelledError) and cancelling():
        raise asyncio.CancelledError from exc

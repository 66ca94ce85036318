"""The beat both alert doors sweep on: each second, and a full look at incidents when mutes changed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from service.adapters.postgres.database import DatabaseUnavailable
from service.components import Context
from service.supervisor import progress, sleep_or_stop

SWEEP_EVERY = 1.0
FULL_SWEEP_EVERY = 15.0

Sweep = Callable[..., Awaitable[int]]


async def sweep_on_mute_changes(
    stop: asyncio.Event,
    context: Context,
    sweep: Sweep,
    before: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Run `sweep(full=...)` every second; `full` when what mutes alerts changed (a silence made or
    ended, a window opened or closed, an inhibiting alert came or went) or every 15 s regardless."""
    last: tuple[object, ...] | None = None
    judged_at = 0.0
    while not stop.is_set():
        try:
            if before is not None:
                await before()
            async with context.db.connection() as conn:
                digest = (await context.muter.snapshot(conn, context.clock())).digest()
            full = digest != last or time.monotonic() - judged_at > FULL_SWEEP_EVERY
            await sweep(full=full)
            if full:
                last, judged_at = digest, time.monotonic()
            progress()
        except DatabaseUnavailable:
            pass  # readiness shows the outage; the next beat tries again
        await sleep_or_stop(stop, SWEEP_EVERY)

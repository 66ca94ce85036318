"""The pool under pressure: only a missing server means "unavailable"; cancellation always gets through."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from service.adapters.postgres.database import Database, DatabaseBusy, DatabaseUnavailable


async def test_a_busy_pool_refuses_one_caller_and_spares_the_others(db: Database, database_url: str) -> None:
    small = Database(database_url, min_size=1, max_size=2, connect_timeout=0.5)
    holding = asyncio.Event()
    held = 0

    async def slow_transaction() -> int:
        nonlocal held
        async with small.transaction() as conn:
            held += 1
            if held == 2:
                holding.set()
            await conn.execute("SELECT pg_sleep(1.5)")
            value: int = await conn.fetchval("SELECT 7")
            return value

    try:
        both = [asyncio.create_task(slow_transaction()) for _ in range(2)]
        await asyncio.wait_for(holding.wait(), timeout=5)
        with pytest.raises(DatabaseBusy, match="2 database connections"):
            await small.fetchval("SELECT 1")
        assert await asyncio.gather(*both) == [7, 7]  # the healthy transactions were not touched
        assert await small.fetchval("SELECT 1") == 1
    finally:
        await small.close()


@pytest.mark.parametrize("error", [OSError("http peer reset"), TimeoutError("http call timed out")])
async def test_a_callers_own_failure_stays_its_own(db: Database, database_url: str, error: Exception) -> None:
    pool = Database(database_url, min_size=1, max_size=3)
    try:
        async with pool.transaction() as other:

            async def failing_caller() -> None:
                async with pool.transaction() as conn:
                    await conn.execute("SELECT 1")
                    raise error

            with pytest.raises(type(error)) as raised:
                await failing_caller()
            assert raised.value is error  # not DatabaseUnavailable: the server is fine
            assert await other.fetchval("SELECT 2") == 2  # and the other caller's connection lives
    finally:
        await pool.close()


async def test_the_server_dropping_a_connection_is_unavailable(db: Database, database_url: str) -> None:
    pool = Database(database_url, min_size=1, max_size=2)
    try:

        async def dropped_mid_query() -> None:
            async with pool.connection() as conn:
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                running = asyncio.create_task(conn.fetchval("SELECT pg_sleep(5)"))
                await asyncio.sleep(0.3)
                await db.execute("SELECT pg_terminate_backend($1)", pid)
                await running

        with pytest.raises(DatabaseUnavailable):
            await dropped_mid_query()
        assert await pool.fetchval("SELECT 3") == 3  # the pool replaced it on its own
    finally:
        await pool.close()


async def test_cancellation_survives_cleanup_failing_on_a_dead_connection(
    db: Database, database_url: str
) -> None:
    """A loop that retries on any Exception must still stop when cancelled, even if the ROLLBACK
    on its dead connection fails and Python would let that error replace the cancellation."""
    pool = Database(database_url, min_size=1, max_size=2)
    inside = asyncio.Event()
    pids: list[int] = []

    async def retrying_loop() -> None:
        while True:
            try:
                async with pool.transaction() as conn:
                    pids.append(await conn.fetchval("SELECT pg_backend_pid()"))
                    inside.set()
                    await asyncio.sleep(60)
            except Exception:  # noqa: BLE001 - the very pattern that used to swallow the cancellation
                await asyncio.sleep(0.05)

    try:
        task = asyncio.create_task(retrying_loop())
        await asyncio.wait_for(inside.wait(), timeout=5)
        await db.execute("SELECT pg_terminate_backend($1)", pids[0])
        await asyncio.sleep(0.3)  # the client sees the socket close
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, "the loop swallowed its cancellation"
        assert task.cancelled()
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pool.close()

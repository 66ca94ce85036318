"""Group commit: batches submitted while a write runs share the next write; every submitter returns only
once its own items are written, and a failed write fails every submitter of that lot."""

from __future__ import annotations

import asyncio

import pytest

from service.alerting.coalescing import Coalescer


async def test_batches_arriving_during_a_write_share_the_next_one() -> None:
    lots: list[list[int]] = []
    release = asyncio.Event()

    async def write(items: list[int]) -> None:
        lots.append(items)
        if len(lots) == 1:
            await release.wait()

    coalescer = Coalescer(write)
    first = asyncio.create_task(coalescer.submit([1]))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    others = [asyncio.create_task(coalescer.submit([n, n + 10])) for n in (2, 3, 4)]
    await asyncio.sleep(0.01)
    assert not first.done()  # its write has not finished
    assert lots == [[1]]
    release.set()
    await asyncio.gather(first, *others)
    assert lots == [[1], [2, 12, 3, 13, 4, 14]]


async def test_a_failed_write_fails_its_whole_lot_and_not_the_next() -> None:
    calls = 0

    async def write(items: list[str]) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if "bad" in items:
            raise RuntimeError("database said no")

    coalescer: Coalescer[str] = Coalescer(write)
    first = asyncio.create_task(coalescer.submit(["ok"]))
    await asyncio.sleep(0)
    lot = [asyncio.create_task(coalescer.submit([x])) for x in ("bad", "fine")]
    results = await asyncio.gather(first, *lot, return_exceptions=True)
    assert results[0] is None
    assert [type(r) for r in results[1:]] == [RuntimeError, RuntimeError]
    await coalescer.submit(["later"])
    assert calls == 3


async def test_a_caller_that_gives_up_does_not_cancel_the_write() -> None:
    written: list[list[int]] = []

    async def write(items: list[int]) -> None:
        await asyncio.sleep(0.05)
        written.append(items)

    coalescer = Coalescer(write)
    task = asyncio.create_task(coalescer.submit([1]))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await coalescer.submit([2])
    assert written == [[1], [2]]


async def test_at_most_so_many_writes_at_once() -> None:
    running = most = 0

    async def write(items: list[int]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1

    coalescer = Coalescer(write, writers=2)
    tasks = []
    for n in range(8):  # arriving while earlier ones are being written
        tasks.append(asyncio.create_task(coalescer.submit([n])))
        await asyncio.sleep(0.002)
    await asyncio.gather(*tasks)
    assert most == 2

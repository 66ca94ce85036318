"""The watchdog: a worker that stops making progress is shown, counted, cancelled and started again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from service.adapters.postgres.database import Database
from service.app import build_app, wait_until_ready
from service.components import Component, Context
from service.settings import load_settings
from service.supervisor import Supervisor, Worker, progress

ROOT = Path(__file__).resolve().parents[2]


async def _until(check: object, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _age(worker: str) -> float | None:
    return REGISTRY.get_sample_value("incidentd_worker_last_progress_seconds", {"worker": worker})


async def test_a_stuck_worker_is_reported_and_restarted() -> None:
    starts = 0
    hang = asyncio.Event()
    hang.set()

    async def loop(stop: asyncio.Event) -> None:
        nonlocal starts
        starts += 1
        while not stop.is_set():
            progress()
            await asyncio.sleep(0.02)
            if hang.is_set() and starts == 1:
                try:
                    await asyncio.Event().wait()  # stuck: no progress, no crash, no log
                finally:
                    await asyncio.sleep(0.3)  # and slow to let go, so the test can see it stuck

    supervisor = Supervisor(watchdog_interval=0.05, cancel_grace=2.0)
    supervisor.start_worker(Worker("stuck-once", loop, stall_after=0.4))
    try:
        await _until(lambda: "stuck-once" in supervisor.stalled())
        assert (_age("stuck-once") or 0) > 0.4
        assert "bound 0.4s" in supervisor.stalled()["stuck-once"]
        await _until(lambda: starts == 2)
        await _until(lambda: not supervisor.failures)  # its first round after the restart clears it
        assert supervisor.stalled() == {}
        assert (_age("stuck-once") or 99) < 0.4
        restarts = REGISTRY.get_sample_value(
            "incidentd_worker_restarts_total", {"worker": "stuck-once", "reason": "stalled"}
        )
        assert restarts == 1
    finally:
        await supervisor.stop(timeout=1)


async def test_a_worker_that_swallows_its_cancellation_is_abandoned_and_replaced() -> None:
    starts = 0

    async def loop(stop: asyncio.Event) -> None:
        nonlocal starts
        starts += 1
        mine = starts
        while not stop.is_set():
            if mine == 1:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    continue  # the bug this guards against: the cancellation is lost
            progress()
            await asyncio.sleep(0.02)

    supervisor = Supervisor(watchdog_interval=0.05, cancel_grace=0.2)
    supervisor.start_worker(Worker("deaf", loop, stall_after=0.3))
    try:
        await _until(lambda: starts == 2)
        await _until(lambda: not supervisor.failures)
    finally:
        await supervisor.stop(timeout=1)


async def test_readyz_names_a_stuck_worker(db: Database, database_url: str) -> None:
    async def stuck(stop: asyncio.Event) -> None:
        progress()
        await stop.wait()  # no round ever completes, but shutdown still ends it

    def component(_: Context) -> Component:
        return Component(name="stuck", workers=[Worker("stuck-worker", stuck, stall_after=0.3)])

    settings = msgspec.structs.replace(load_settings({}), rules_dir=ROOT / "rules")
    app = build_app(settings, database_url, run_workers=True, components=[component])
    async with AsyncTestClient(app=app) as client:
        await wait_until_ready(app)
        deadline = asyncio.get_running_loop().time() + 5
        while (ready := await client.get("/readyz")).status_code == 200:
            assert asyncio.get_running_loop().time() < deadline, "the stuck worker never showed"
            await asyncio.sleep(0.05)
        assert ready.status_code == 503
        assert ready.json()["checks"]["workers"].startswith("stuck-worker: no progress for")
        metrics = (await client.get("/metrics")).text
        assert 'incidentd_worker_last_progress_seconds{worker="stuck-worker"}' in metrics

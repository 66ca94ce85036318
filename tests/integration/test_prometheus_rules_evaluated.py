"""A Prometheus-format rule file in the rules directory pages through the ordinary pipeline.

The expressions go to a local HTTP server speaking Prometheus' `/api/v1/query`;
incidents, severities and titles are checked in a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from service.adapters.postgres.database import Database
from service.alerting.evaluator import Evaluator
from service.alerting.rulebook import RuleBook
from service.clock import FrozenClock
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.sources.collector import Collector

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus" / "node-alerts.yaml"
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class FakePrometheus:
    """Answers each query from `answers` (query text -> list of (labels, value)); others get []."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[dict[str, str], float]]] = {}
        self.queries: list[str] = []

    async def query(self, request: web.Request) -> web.Response:
        text = request.query["query"]
        self.queries.append(text)
        key = next((k for k in self.answers if k in text), None)
        rows = self.answers.get(key, []) if key else []
        result: list[dict[str, Any]] = [
            {"metric": labels, "value": [float(request.query["time"]), repr(value)]} for labels, value in rows
        ]
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": result}})


@pytest.fixture
async def prometheus() -> AsyncIterator[tuple[FakePrometheus, str]]:
    fake = FakePrometheus()
    app = web.Application()
    app.router.add_get("/api/v1/query", fake.query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    assert isinstance(server, asyncio.Server)
    port = server.sockets[0].getsockname()[1]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_prometheus_rule_file_opens_and_raises_incidents(
    db: Database, tmp_path: Path, prometheus: tuple[FakePrometheus, str]
) -> None:
    fake, url = prometheus
    shutil.copy(FIXTURE, tmp_path / "node-alerts.yaml")
    (tmp_path / "sources.yaml").write_text(f"sources:\n  prometheus:\n    - {{name: prom, url: '{url}'}}\n")
    clock = FrozenClock(T0)
    book = RuleBook(tmp_path, clock)
    assert book.reload().accepted, book.last_problems
    incidents = IncidentService(db, clock=clock)
    collector = Collector(book.current.sources, env={}, self_database_url=None)
    evaluator = Evaluator(db=db, incidents=incidents, rulebook=book, source=collector, clock=clock)
    fs_labels = {
        "device": "/dev/sda1",
        "fstype": "ext4",
        "instance": "db-1:9100",
        "job": "node",
        "mountpoint": "/",
    }
    try:
        down_series = {"__name__": "up", "instance": "db-1:9100", "job": "node"}
        fake.answers = {"* 100 < 5": [(fs_labels, 4.5)], 'up{job="node"} == 0': [(down_series, 0.0)]}
        await evaluator.tick()
        assert await incidents.list() == []  # both are pending: `for` is 30m and 5m
        for _ in range(5):
            clock.advance(timedelta(minutes=1))
            await evaluator.tick()
        (down,) = await incidents.list()
        assert down.title == "Instance db-1:9100 down"
        assert down.severity is Severity.P1  # severity: critical
        assert down.labels["alertname"] == "InstanceDown"

        for _ in range(25):
            clock.advance(timedelta(minutes=1))
            await evaluator.tick()
        disk = next(
            i for i in await incidents.list() if i.labels["alertname"] == "NodeFilesystemAlmostOutOfSpace"
        )
        assert disk.severity is Severity.P2  # the warning twin
        assert disk.title == "Filesystem has less than 5% space left."

        # The critical twin (`< 3`) starts breaching: after its own 30m it raises the same incident.
        fake.answers["* 100 < 3"] = [(fs_labels, 2.5)]
        for _ in range(31):  # pending from the next evaluation, firing 30m after it
            clock.advance(timedelta(minutes=1))
            await evaluator.tick()
        same = [
            i for i in await incidents.list() if i.labels["alertname"] == "NodeFilesystemAlmostOutOfSpace"
        ]
        assert [i.id for i in same] == [disk.id]
        assert same[0].severity is Severity.P1
        _, events = await incidents.get(disk.id)
        assert "severity_raised" in [e.kind for e in events]
        assert "2.50% available" in " ".join(str(e.data.get("description", "")) for e in events)
    finally:
        await collector.close()
    assert not any("instance:node_cpu_utilisation" in q for q in fake.queries)  # recording rules skipped

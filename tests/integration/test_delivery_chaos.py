"""PostgreSQL goes away while P1s are being declared; once it is back every page leaves, without a restart.

`incidentd serve` runs as a process of its own (every worker under the supervisor,
the sender on its own pool, LISTEN included), against the PagerDuty and Slack fakes, reaching
PostgreSQL through a proxy the test cuts: open connections are dropped and new
ones refused, as when the server stops. PagerDuty answers slowly so that sends
are in flight at the moment of the cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from notification_harness import ROUTING_KEY, SLACK_TOKEN, running_fakes

from service.adapters.postgres.database import Database
from service.testing import child_processes
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.tcp_proxy import ThreadedTcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
WRITER = {"Authorization": "Bearer writer-token-1"}
DELIVERED_WITHIN = 15.0  # seconds after PostgreSQL is back
ROUNDS = 3


@dataclass
class Service:
    http: httpx.AsyncClient
    proxy: ThreadedTcpProxy
    pagerduty: FakePagerDuty
    db: Database  # direct, not through the proxy: the test's own view of the tables
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def service(db: Database, database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    """`incidentd serve` as a process of its own, reaching PostgreSQL only through the proxy."""
    parts = urlsplit(database_url)
    if not parts.hostname or parts.hostname.startswith("/") or parts.port is None:
        pytest.skip("needs a TCP PostgreSQL (TEST_DATABASE_URL)")
    proxy = ThreadedTcpProxy(parts.hostname, parts.port)
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    port = _free_port()
    log_path = tmp_path / "service.log"
    async with running_fakes() as (pd, slack), httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        pd.latency = 0.3
        env = {
            **os.environ,
            "DATABASE_URL": urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
            "INCIDENTD_PORT": str(port),
            "INCIDENTD_API_TOKENS": "alice=writer-token-1",
            "INCIDENTD_DB_CONNECT_TIMEOUT": "2",
            "INCIDENTD_LOG_FORMAT": "json",
            "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "PAGERDUTY_EVENTS_URL": pd.url,
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_API_URL": f"{slack.url}/api/",
        }
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "service",
                "serve",
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
                **child_processes.spawn_options(),
            )
            child_processes.track(process.pid)
            try:
                started = Service(http, proxy, pd, db, log_path)
                await _until_ready(started, process)
                yield started
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), timeout=20)
                except TimeoutError:
                    process.kill()
                    await process.wait()
                child_processes.forget(process.pid)
                proxy.close()


async def _until_ready(service: Service, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.returncode is None, f"incidentd exited:\n{service.log_tail()}"
        with contextlib.suppress(httpx.HTTPError):
            if (await service.http.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"incidentd not ready:\n{service.log_tail()}")


async def _declare(service: Service, title: str) -> int | None:
    answer = await service.http.post(
        "/api/v1/incidents", json={"title": title, "severity": "P1"}, headers=WRITER, timeout=10
    )
    if answer.status_code == 503:
        return None
    assert answer.status_code == 201, answer.text
    incident_id: int = answer.json()["incident"]["id"]
    return incident_id


async def _undelivered(service: Service, incidents: list[int]) -> list[int]:
    rows = await service.db.fetch(
        "SELECT incident_id, payload->>'dedup_key' AS dedup FROM notification_outbox"
        " WHERE channel = 'pagerduty' AND kind = 'trigger' AND incident_id = ANY($1::bigint[])",
        incidents,
    )
    keys = {r["incident_id"]: r["dedup"] for r in rows}
    paged = {e["dedup_key"] for e in service.pagerduty.events if e["event_action"] == "trigger"}
    return [i for i in incidents if keys.get(i) not in paged]


async def _one_outage(service: Service, seconds: float, round_no: int) -> float:
    """Declare, cut, keep declaring, restore, declare again; returns how long delivery took after."""
    declared = [i for n in range(8) if (i := await _declare(service, f"r{round_no} before {n}"))]
    assert len(declared) == 8
    service.proxy.cut()
    refused = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        refused += await _declare(service, f"r{round_no} during") is None
        await asyncio.sleep(1.0)
    assert refused > 0, "the API accepted writes while PostgreSQL was away"
    service.proxy.restore()
    back = time.monotonic()
    while len(declared) < 12 and time.monotonic() - back < DELIVERED_WITHIN:
        probe = await _declare(service, f"r{round_no} probe after")
        if probe is not None:
            declared.append(probe)
        else:
            await asyncio.sleep(0.2)
    assert len(declared) == 12, "the API did not take writes again after PostgreSQL came back"
    while missing := await _undelivered(service, declared):
        waited = time.monotonic() - back
        assert waited < DELIVERED_WITHIN, (
            f"round {round_no}, {seconds:g}s outage: {len(missing)} of {len(declared)} P1 pages"
            f" not at PagerDuty {waited:.1f}s after PostgreSQL came back (incidents {missing})\n"
            + service.log_tail()
        )
        await asyncio.sleep(0.2)
    return time.monotonic() - back


async def _healthy_after(service: Service) -> None:
    ready = await service.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["workers"] == "ok"
    for _ in range(20):  # the gauge is read at scrape time: it matches the table whenever that holds still
        count = "SELECT count(*) FROM notification_outbox WHERE status = 'pending'"
        before = await service.db.fetchval(count)
        text = (await service.http.get("/metrics")).text
        if before == await service.db.fetchval(count):
            break
        await asyncio.sleep(0.2)
    gauge = re.search(r'incidentd_notification_outbox\{status="pending"\} (\S+)', text)
    assert gauge is not None
    assert float(gauge.group(1)) == before
    ages = dict(re.findall(r'incidentd_worker_last_progress_seconds\{worker="([^"]+)"\} (\S+)', text))
    assert set(ages) == {
        "notification-sender",
        "escalation",
        "rules-evaluator",
        "rules-reload-follower",
        "rule-mute-release",
        "pushed-alert-expiry",
        "retention",
        "daily-summary",
        "action-item-reminders",
    }
    slow = {"retention", "daily-summary", "action-item-reminders"}  # every 10 min, 30 s and 60 s
    busy = {name: float(age) for name, age in ages.items() if name not in slow}
    assert all(age < 15 for age in busy.values()), ages


@pytest.mark.parametrize("outage", [5.0, 30.0], ids=["5s", "30s"])
async def test_every_page_leaves_within_15s_of_postgres_returning(service: Service, outage: float) -> None:
    took = [await _one_outage(service, outage, n) for n in range(1, ROUNDS + 1)]
    assert len(took) == ROUNDS
    await _healthy_after(service)

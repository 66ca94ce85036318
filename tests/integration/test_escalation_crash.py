"""A real `python -m service serve`, SIGKILLed with due timers pending and restarted: each step fires once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from service.adapters.postgres.database import Database
from service.testing import child_processes

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "writer-token-crash"
INCIDENTS = 20
# `python -m service serve`, with escalation added to the components if the lead has not wired it yet.
LAUNCH = textwrap.dedent(
    """
    import sys
    import service.app as app
    from service.escalation.component import build
    shipped = app.default_components
    app.default_components = lambda: [*shipped(), *([] if build in shipped() else [build])]
    from service.__main__ import main
    sys.exit(main(["serve"]))
    """
)
SHORT_POLICY = """
severities:
  P0: {ack_within: 1h, expected_resolution: 1d, pagerduty: true}
  P1: {ack_within: 1h, expected_resolution: 1d, pagerduty: true}
  P2: {ack_within: 1h, expected_resolution: 1d, pagerduty: false}
  P3: {ack_within: 1h, expected_resolution: 1d, pagerduty: false}
policies:
  - name: demo
    levels:
      - {name: On-call engineer, respond_within: 1h, targets: {pagerduty: [default]}}
      - {name: Technical lead, respond_within: 1h, targets: {slack_users: ["@lead"]}}
"""

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def start(database_url: str, policy: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "INCIDENTD_PORT": str(port),
        "INCIDENTD_API_TOKENS": f"crash={TOKEN}",
        "INCIDENTD_ESCALATION_POLICY": str(policy),
        "INCIDENTD_RULES_DIR": str(ROOT / "rules"),
        "INCIDENTD_TEMPLATES_DIR": str(ROOT / "incident_templates"),
        "INCIDENTD_LOG_FORMAT": "json",
    }
    options = child_processes.spawn_options()
    with log.open("ab") as out:
        process: subprocess.Popen[bytes] = await asyncio.to_thread(
            lambda: subprocess.Popen(
                [sys.executable, "-c", LAUNCH],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                **options,
            )
        )
    child_processes.track(process.pid)
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.poll() is not None:
                output = await asyncio.to_thread(log.read_text)
                raise AssertionError(f"server exited with {process.returncode}: {output[-2000:]}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    process.kill()
    output = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"server not ready: {output[-2000:]}")


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    child_processes.forget(process.pid)


async def wait_for(db: Database, query: str, expected: int, timeout: float = 15.0) -> int:
    value: int = -1
    for _ in range(int(timeout / 0.05)):
        value = await db.fetchval(query)
        if value == expected:
            return value
        await asyncio.sleep(0.05)
    return value


ESCALATED = "SELECT count(*) FROM incident_events WHERE kind = 'escalated'"


async def test_sigkill_with_due_timers_then_restart_fires_each_once(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    policy = tmp_path / "escalation-short.yaml"
    policy.write_text(SHORT_POLICY, encoding="utf-8")
    log = tmp_path / "server.log"
    port = free_port()
    first = await start(database_url, policy, port, log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for index in range(INCIDENTS):
                response = await client.post(
                    "/api/v1/incidents",
                    json={"title": f"crash {index}", "severity": "P1"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                assert response.status_code == 201, response.text
    finally:
        kill(first)
    assert await db.fetchval(ESCALATED) == 0
    # Time passes while the service is down: every first rung is now overdue.
    moved = await db.execute(
        "UPDATE escalation_steps SET due_at = now() - interval '5 minutes'"
        " WHERE state = 'pending' AND kind = 'escalate'"
    )
    assert moved == f"UPDATE {INCIDENTS}"

    second = await start(database_url, policy, port, log)
    try:
        assert await wait_for(db, ESCALATED, INCIDENTS) == INCIDENTS
    finally:
        kill(second)
    third = await start(database_url, policy, port, log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(100):  # until the restarted worker has polled at least once
                metrics = (await client.get("/metrics")).text.splitlines()
                polls = [
                    float(m.split()[1])
                    for m in metrics
                    if m.startswith("incidentd_escalation_idle_polls_total ")
                ]
                if polls and polls[0] >= 1:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
    finally:
        kill(third)
    per_incident = await db.fetch(
        "SELECT incident_id, count(*) AS n, min(data->>'reason') AS reason FROM incident_events"
        " WHERE kind = 'escalated' GROUP BY incident_id"
    )
    assert len(per_incident) == INCIDENTS
    assert {(row["n"], row["reason"]) for row in per_incident} == {(1, "ack_timeout")}
    next_rungs = await db.fetchval(
        "SELECT count(*) FROM escalation_steps WHERE state = 'pending' AND kind = 'escalate' AND level = 2"
    )
    assert next_rungs == INCIDENTS

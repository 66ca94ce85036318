"""A crash between commit and send: SIGKILL a real `incidentd serve`, restart it, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from notification_harness import ROOT, ROUTING_KEY, SLACK_TOKEN, outbox

from service.adapters.postgres.database import Database
from service.app import default_components
from service.testing import child_processes
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack

pytestmark = pytest.mark.slow
WRITER = {"Authorization": "Bearer writer-token-1"}
# Until app.default_components() lists notifications, run the same CLI with it plugged in.
_LAUNCHER = (
    "import sys, service.app as app; from service.notifications.component import build;"
    " app.default_components = lambda: [build]; from service.__main__ import main; sys.exit(main(['serve']))"
)


def _command() -> list[str]:
    wired = any(
        getattr(f, "__module__", "") == "service.notifications.component" for f in default_components()
    )
    return [sys.executable, "-m", "service", "serve"] if wired else [sys.executable, "-c", _LAUNCHER]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _fast_rules(tmp: Path) -> Path:
    rules = tmp / "rules"
    shutil.copytree(ROOT / "rules", rules)
    policy = rules / "policy" / "notifications.yaml"
    text = re.sub(r"backoff_initial: \S+", "backoff_initial: 50ms", policy.read_text())
    text = re.sub(r"backoff_max: \S+", "backoff_max: 200ms", text)
    policy.write_text(re.sub(r"max_attempts: \d+", "max_attempts: 10000", text))
    return rules


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakePagerDuty, FakeSlack]]:
    pd, slack = FakePagerDuty(), FakeSlack()
    await pd.start()
    await slack.start()
    yield pd, slack
    await pd.stop()
    await slack.stop()


async def _until(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check() if callable(check) else None
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_sigkill_after_commit_before_delivery_loses_nothing_and_sends_once(
    db: Database, database_url: str, fakes: tuple[FakePagerDuty, FakeSlack], tmp_path: Path
) -> None:
    pd, slack = fakes
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "INCIDENTD_PORT": str(port),
        "INCIDENTD_API_TOKENS": "alice=writer-token-1",
        "INCIDENTD_RULES_DIR": str(_fast_rules(tmp_path)),
        "INCIDENTD_TEMPLATES_DIR": str(ROOT / "incident_templates"),
        "INCIDENTD_LOG_FORMAT": "json",
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "PAGERDUTY_EVENTS_URL": pd.url,
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_API_URL": f"{slack.url}/api/",
    }
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "service.log").open("wb")

    async def start() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *_command(), env=env, cwd=ROOT, stdout=log, stderr=log, **child_processes.spawn_options()
        )
        child_processes.track(process.pid)

        async def ready() -> bool:
            try:
                return (await http.get(f"{base}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await _until(ready, "the service to be ready")
        return process

    pd.fail(500, 1_000_000)
    slack.fail(500, 1_000_000)
    async with httpx.AsyncClient(timeout=5) as http:
        first = await start()
        try:
            created = await http.post(
                f"{base}/api/v1/incidents",
                json={"title": "payments down", "severity": "P0", "dedup_key": "payments"},
                headers=WRITER,
            )
            assert created.status_code == 201, created.text
            incident_id = created.json()["incident"]["id"]
            ack = await http.post(f"{base}/api/v1/incidents/{incident_id}/acknowledge", headers=WRITER)
            assert ack.status_code == 200
            await _until(lambda: len(pd.failures) >= 2 and len(slack.failures) >= 2, "failed attempts")
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert pd.events == []
        assert slack.calls("chat.postMessage") == []
        assert {r["status"] for r in await outbox(db)} == {"pending"}

        pd.heal()
        slack.heal()
        second = await start()
        try:

            async def all_sent() -> bool:
                return {r["status"] for r in await outbox(db)} == {"sent"}

            await _until(all_sent, "every intent delivered after the restart")
            await asyncio.sleep(0.5)  # a double send would land now
        finally:
            second.send_signal(signal.SIGTERM)
            await second.wait()
    log.close()
    assert Counter(e["event_action"] for e in pd.events) == {"trigger": 1, "acknowledge": 1}
    assert {e["dedup_key"] for e in pd.events} == {"payments"}
    for channel in ("#alerts", "#alerts-critical"):
        top = slack.top_level(channel)
        assert len(top) == 1, f"{channel}: {len(top)} messages"
        assert "acknowledged" in top[0].text

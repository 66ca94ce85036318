"""Real Prometheus 2.42 and real amtool 0.25 against a real incidentd process, token and all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from conftest import require_tool

from demo.processes import ServiceProcess, free_port
from service.testing.databases import truncate_all

pytestmark = pytest.mark.slow
TOKEN = "prom-push-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def extra_env() -> dict[str, str]:
    return {}


@pytest.fixture
async def incidentd(
    database_url: str, tmp_path: Path, extra_env: dict[str, str]
) -> AsyncIterator[ServiceProcess]:
    conn = await asyncpg.connect(database_url)
    try:
        await truncate_all(conn)
    finally:
        await conn.close()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("INCIDENTD_", "APP_"))},
        "DATABASE_URL": database_url,
        "INCIDENTD_PORT": str(free_port()),
        "INCIDENTD_API_TOKENS": f"prometheus={TOKEN}",
        **extra_env,
    }
    service = ServiceProcess(env, tmp_path / "incidentd.log")
    service.start()
    try:
        await service.wait_ready()
        yield service
    finally:
        service.stop()


async def _incidents(url: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession(headers=AUTH) as http,
        http.get(f"{url}/api/v1/incidents?status=all") as response,
    ):
        assert response.status == 200
        items: list[dict[str, Any]] = (await response.json())["items"]
        return items


async def _detail(url: str, incident_id: int) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(headers=AUTH) as http,
        http.get(f"{url}/api/v1/incidents/{incident_id}") as response,
    ):
        found: dict[str, Any] = await response.json()
        return found


async def _wait(probe: Callable[[], Any], what: str, timeout: float = 45.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


async def _notifications_sent(port: int) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("prometheus_notifications_sent_total")
    )


RULES = """
groups:
  - name: always
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: critical, service: checkout}
        annotations: {summary: "checkout is always on fire"}
"""


async def test_prometheus_pushes_open_one_incident_resends_change_nothing_and_removal_resolves(
    incidentd: ServiceProcess, tmp_path: Path
) -> None:
    binary = require_tool("prometheus", "prometheus")
    incidentd_port = incidentd.url.rsplit(":", 1)[1]
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""
global: {{evaluation_interval: 1s, scrape_interval: 15s}}
rule_files: [{rules}]
alerting:
  alertmanagers:
    - api_version: v2
      authorization: {{credentials: {TOKEN}}}
      static_configs: [{{targets: ["127.0.0.1:{incidentd_port}"]}}]
"""
    )
    port = free_port()
    prometheus = _start_prometheus(binary, config, tmp_path, port)
    try:
        [incident] = await _wait(lambda: _incidents(incidentd.url), "Prometheus' alert to open an incident")
        assert incident["severity"] == "P1"
        assert incident["title"] == "checkout is always on fire"
        before = await _detail(incidentd.url, incident["id"])
        declared = before["timeline"][0]
        assert declared["source"] == "prometheus"
        assert "/graph?g0.expr=vector" in declared["data"]["generator_url"]
        sent = await _notifications_sent(port)
        await _wait(
            lambda: _more(_notifications_sent(port), sent + 4), "Prometheus to re-send four more times", 30
        )
        after = await _detail(incidentd.url, incident["id"])
        assert [e["kind"] for e in after["timeline"]] == [e["kind"] for e in before["timeline"]]
        assert after["incident"]["updated_at"] == before["incident"]["updated_at"]
        assert len(await _incidents(incidentd.url)) == 1

        rules.write_text("groups: []\n")
        prometheus.send_signal(signal.SIGHUP)

        async def resolved() -> bool:
            return bool((await _incidents(incidentd.url))[0]["status"] == "resolved")

        await _wait(resolved, "the incident to resolve once the rule is gone")
        closing = await _detail(incidentd.url, incident["id"])
        assert "alert_cleared" in [e["kind"] for e in closing["timeline"]]
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=20)


def _start_prometheus(binary: str, config: Path, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    """Alerts re-sent every second (not every minute), so the test sees many re-sends quickly."""
    with (tmp_path / "prometheus.log").open("wb") as log:
        return subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--rules.alert.resend-delay=1s",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def _more(value: Any, at_least: float) -> bool:
    return bool(await value >= at_least)


def _amtool(url: str, config: Path, *args: str) -> str:
    binary = require_tool("amtool", "prometheus-alertmanager")
    done = subprocess.run(
        [binary, f"--alertmanager.url={url}", f"--http.config.file={config}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"amtool {' '.join(args)}: {done.stderr}"
    return done.stdout


async def test_amtool_alerts_and_silences(incidentd: ServiceProcess, tmp_path: Path) -> None:
    config = tmp_path / "amtool-http.yml"
    config.write_text(f"authorization:\n  credentials: {TOKEN}\n")
    url = incidentd.url

    def run(*args: str) -> str:
        return _amtool(url, config, *args)

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(
        None,
        lambda: run(
            "alert",
            "add",
            "DiskFull",
            "service=db",
            "severity=warning",
            "--annotation=summary=disk almost full",
        ),
    )
    [incident] = await _wait(lambda: _incidents(url), "amtool's alert to open an incident")
    assert incident["title"] == "disk almost full"
    listed = await loop.run_in_executor(None, lambda: run("alert", "query"))
    assert "DiskFull" in listed
    assert "disk almost full" in listed
    as_json = json.loads(await loop.run_in_executor(None, lambda: run("-o", "json", "alert", "query")))
    assert as_json[0]["labels"]["service"] == "db"

    silence_id = (
        await loop.run_in_executor(
            None,
            lambda: run(
                "silence",
                "add",
                "service=payments",
                'alertname=~"Disk.*"',
                "--duration=2h",
                "--comment=payments maintenance",
                "--author=alice",
            ),
        )
    ).strip()
    assert len(silence_id) == 36  # a UUID, as amtool prints it
    query = await loop.run_in_executor(None, lambda: run("silence", "query"))
    assert silence_id in query
    assert "alice" in query
    assert "payments maintenance" in query
    await loop.run_in_executor(
        None, lambda: run("alert", "add", "DiskFull", "service=payments", "severity=critical")
    )
    hidden = await loop.run_in_executor(None, lambda: run("-o", "json", "alert", "query", "service=payments"))
    assert json.loads(hidden) == []  # amtool shows active alerts unless asked for silenced ones
    suppressed = json.loads(
        await loop.run_in_executor(
            None, lambda: run("-o", "json", "alert", "query", "--silenced", "service=payments")
        )
    )
    assert suppressed[0]["status"]["silencedBy"] == [silence_id]
    assert suppressed[0]["status"]["state"] == "suppressed"
    assert len(await _incidents(url)) == 1  # the silenced alert opened nothing

    exported = await loop.run_in_executor(None, lambda: run("-o", "json", "silence", "query"))
    (tmp_path / "silences.json").write_text(exported)
    await loop.run_in_executor(None, lambda: run("silence", "expire", silence_id))
    expired = await loop.run_in_executor(None, lambda: run("silence", "query", "--expired"))
    assert silence_id in expired
    assert silence_id not in await loop.run_in_executor(None, lambda: run("silence", "query"))
    await _wait(lambda: _count(url, 2), "the payments alert to page once its silence expired")

    imported = await loop.run_in_executor(
        None, lambda: run("silence", "import", str(tmp_path / "silences.json"))
    )
    [new_id] = imported.split()
    assert new_id != silence_id  # the exported one had expired: importing makes a new silence
    again = await loop.run_in_executor(None, lambda: run("silence", "query", "-q"))
    assert again.split() == [new_id]


async def _count(url: str, wanted: int) -> bool:
    return len(await _incidents(url)) == wanted


@pytest.mark.parametrize("extra_env", [{"INCIDENTD_ALERTS_OPEN_TO": "127.0.0.1/32"}])
async def test_push_without_token_from_an_opened_address(incidentd: ServiceProcess) -> None:
    alert = [{"labels": {"alertname": "NoTokenSender", "service": "legacy"}}]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{incidentd.url}/api/v2/alerts", json=alert) as response:
            assert response.status == 200
        async with http.get(f"{incidentd.url}/api/v2/alerts") as response:
            assert response.status == 401  # only the push is opened, never the reads
        async with http.post(f"{incidentd.url}/api/v2/silences", json={}) as response:
            assert response.status == 401
    [incident] = await _incidents(incidentd.url)
    assert incident["labels"]["alertname"] == "NoTokenSender"

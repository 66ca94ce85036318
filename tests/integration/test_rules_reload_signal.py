"""`kill -HUP` reloads the rule files of a running incidentd, and refuses a broken set (real process)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path

import aiohttp
import pytest

from demo.processes import ROOT, ServiceProcess, free_port
from service.adapters.postgres.database import Database

pytestmark = pytest.mark.slow
TOKEN = "reload-test-token"


async def _rule(http: aiohttp.ClientSession, url: str, name: str) -> dict[str, object]:
    async with http.get(f"{url}/api/v1/rules") as response:
        rules = (await response.json())["rules"]
    found: dict[str, object] = next(r for r in rules if r["name"] == name)
    return found


async def _metric(http: aiohttp.ClientSession, url: str, name: str) -> str:
    async with http.get(f"{url}/metrics") as response:
        text = await response.text()
    return next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " "))


async def test_sighup_reloads_and_a_broken_set_is_refused(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    pack = rules / "thresholds-004.yaml"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("INCIDENTD_", "APP_"))},
        "DATABASE_URL": database_url,
        "INCIDENTD_PORT": str(free_port()),
        "INCIDENTD_RULES_DIR": str(rules),
        "INCIDENTD_API_TOKENS": f"t={TOKEN}",
    }
    service = ServiceProcess(env, tmp_path / "incidentd.log")
    service.start()
    try:
        await service.wait_ready()
        assert service.process is not None
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            assert (await _rule(http, service.url, "ErrorRateHigh"))["critical"] == "10%"
            pack.write_text(pack.read_text().replace("critical: 10%", "critical: 12%", 1))
            os.kill(service.process.pid, signal.SIGHUP)
            for _ in range(100):
                if (await _rule(http, service.url, "ErrorRateHigh"))["critical"] == "12%":
                    break
                await asyncio.sleep(0.1)
            assert (await _rule(http, service.url, "ErrorRateHigh"))["critical"] == "12%"
            assert await _metric(http, service.url, "incidentd_rules_last_reload_success") == "1.0"

            pack.write_text(pack.read_text().replace("critical: 12%", "critical: 12 parsecs", 1))
            os.kill(service.process.pid, signal.SIGHUP)
            for _ in range(100):
                if await _metric(http, service.url, "incidentd_rules_last_reload_success") == "0.0":
                    break
                await asyncio.sleep(0.1)
            assert await _metric(http, service.url, "incidentd_rules_last_reload_success") == "0.0"
            assert (await _rule(http, service.url, "ErrorRateHigh"))["critical"] == "12%"
            async with http.get(f"{service.url}/api/v1/rules") as response:
                problems = (await response.json())["last_reload_problems"]
            assert any("thresholds-004.yaml:" in p and "parsecs" in p for p in problems)
    finally:
        service.stop()

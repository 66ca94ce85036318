"""`GET /api/v1/sources`: each target's last scrape as the collector saw it, the same from a replica that
never scraped (it is read from PostgreSQL), and documented in the OpenAPI schema."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from service.alerting import component as alerting
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.components import Component, Context
from service.settings import load_settings
from service.testing.text_target import text_target

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer w-secret"}
RULES = """
sources:
  scrape:
    - name: fleet
      targets: ["{up}", "127.0.0.1:9"]
      interval: 15s
      timeout: 2s
  sql:
    - {name: orders, database: SOURCES_TEST_UNSET_DSN, query: "SELECT 1 AS value"}
groups:
  - name: g
    interval: 15s
    labels: {service: app}
    rules:
      - alert: Depth
        signal: {source: fleet, gauge: depth, unit: count}
        when: above
        warning: 100
        severity: {warning: P3}
        absent: {for: 1m}
"""


@pytest.fixture
async def target() -> AsyncIterator[str]:
    body = 'depth{queue="a"} 5\ndepth{queue="b"} 7\ndepth{queue="b"} 9\nother 1\n'
    async with text_target(lambda: body) as url:
        yield url.removeprefix("http://").removesuffix("/metrics")


async def _sources(client: AsyncTestClient[Any]) -> dict[str, Any]:
    response = await client.get("/api/v1/sources", headers=AUTH)
    assert response.status_code == 200, response.text
    return {s["name"]: s for s in response.json()["sources"]}


async def test_sources_list_each_targets_last_scrape_from_any_replica(
    tmp_path: Path, database_url: str, db: object, target: str
) -> None:
    rules = tmp_path / "rules"
    (rules / "policy").mkdir(parents=True)
    (rules / "app.yaml").write_text(textwrap.dedent(RULES).replace("{up}", target))
    (rules / "policy" / "severities.yaml").write_text((ROOT / "rules/policy/severities.yaml").read_text())
    settings = msgspec.structs.replace(
        load_settings({"INCIDENTD_API_TOKENS": "writer=w-secret"}),
        rules_dir=rules,
        templates_dir=ROOT / "incident_templates",
    )
    clock = FrozenClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))

    def build(context: Context) -> Component:
        return alerting.build(context)

    scraping = build_app(settings, database_url, clock=clock, run_workers=True, components=[build])
    other = build_app(settings, database_url, clock=clock, run_workers=False, components=[build])
    async with AsyncTestClient(scraping) as a, AsyncTestClient(other) as b:
        await wait_until_ready(scraping)
        fleet: dict[str, Any] = {}
        for _ in range(200):
            fleet = (await _sources(a))["fleet"]
            if fleet["targets_total"] == 2:
                break
            await asyncio.sleep(0.05)
        assert fleet["status"] == "partial"
        assert (fleet["targets_total"], fleet["targets_up"]) == (2, 1)
        up, down = sorted(fleet["targets"], key=lambda t: not t["up"])
        assert up["instance"] == target
        assert up["labels"]["job"] == "fleet"
        assert up["samples"] == 3, "every sample kept, the duplicate not among them"
        assert up["dropped_samples"] == 1
        assert up["last_warning"].startswith("1 duplicate sample(s) dropped")
        assert up["last_error"] is None
        assert up["last_success_at"] == up["last_read_at"]
        assert up["last_read_duration_seconds"] >= 0
        assert down["instance"] == "127.0.0.1:9"
        assert down["up"] is False
        assert down["samples"] is None
        assert down["last_error"]
        assert down["last_success_at"] is None

        seen_by_other = await _sources(b)
        assert seen_by_other["fleet"] == fleet, "a replica that never scraped answers the same"
        assert seen_by_other["orders"] == {
            "name": "orders",
            "kind": "sql",
            "status": "unknown",
            "targets_total": 0,
            "targets_up": 0,
            "last_read_at": None,
            "targets": [],
        }

        first_read = up["last_read_at"]
        clock.advance(timedelta(seconds=15))
        for _ in range(200):
            fleet = (await _sources(b))["fleet"]
            if fleet["last_read_at"] != first_read:
                break
            await asyncio.sleep(0.05)
        newer = next(t for t in fleet["targets"] if t["up"])
        assert newer["last_read_at"] > first_read, "the next round replaces the row"

        listed = {r["name"]: r for r in (await b.get("/api/v1/rules", headers=AUTH)).json()["rules"]}
        depth = listed["Depth"]
        assert (depth["absent_for_seconds"], depth["absent_rule"]) == (60.0, "Depth_absent")
        companion = listed["Depth_absent"]
        assert companion["absence_of"] == "Depth"
        assert companion["health"] == "no data", "a silent target holds it: the series may be on it"

        schema = (await b.get("/schema/openapi.json")).json()
        operation = schema["paths"]["/api/v1/sources"]["get"]
        assert "dropped" in operation["description"]
        props = schema["components"]["schemas"]["TargetStatusView"]["properties"]
        assert "bad lines" in props["dropped_samples"]["description"]
        assert set(props) >= {"up", "last_read_at", "last_read_duration_seconds", "last_error", "samples"}

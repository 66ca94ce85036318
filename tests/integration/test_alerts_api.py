"""The alerting component inside the app: alert listing, rules view, reload refused and accepted, extras."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.alerting import component as alerting
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.components import Component, Context
from service.settings import load_settings
from service.testing.scripted_values import ScriptedSource

ROOT = Path(__file__).resolve().parents[2]
PACK = (Path(__file__).resolve().parents[1] / "fixtures" / "app-rules.yaml").read_text()
AUTH = {"Authorization": "Bearer w-secret"}


@pytest.fixture
async def setup(
    tmp_path: Path, database_url: str, db: object
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], ScriptedSource, Path, FrozenClock]]:
    rules = tmp_path / "rules"
    (rules / "policy").mkdir(parents=True)
    (rules / "app.yaml").write_text(PACK)
    (rules / "policy" / "severities.yaml").write_text((ROOT / "rules/policy/severities.yaml").read_text())
    settings = msgspec.structs.replace(
        load_settings({"INCIDENTD_API_TOKENS": "writer=w-secret"}),
        rules_dir=rules,
        templates_dir=ROOT / "incident_templates",
    )
    source = ScriptedSource()
    clock = FrozenClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))

    def build(context: Context) -> Component:
        return alerting.build(context, source_factory=lambda _: source)

    app = build_app(settings, database_url, clock=clock, run_workers=True, components=[build])
    async with AsyncTestClient(app) as client:
        await wait_until_ready(app)
        yield client, source, rules, clock


async def test_firing_alert_is_listed_and_shown_on_the_incident(
    setup: tuple[AsyncTestClient[Litestar], ScriptedSource, Path, FrozenClock],
) -> None:
    client, source, _, clock = setup
    source.set_value("QueueDepthHigh", 300, {"queue": "mail", "service": "scraped-label"})
    source.set("ErrorRateHigh", [])  # the selector matches nothing
    clock.advance(timedelta(seconds=30))  # next slot: the running evaluator worker picks it up
    alerts: list[dict[str, Any]] = []
    for _ in range(100):
        response = await client.get("/api/v1/alerts?status=firing", headers=AUTH)
        assert response.status_code == 200
        alerts = response.json()
        if alerts:
            break
        await asyncio.sleep(0.05)
    [alert] = alerts
    assert alert["rule"] == "QueueDepthHigh"
    # The series' labels overlaid with the rule's own, which win, as in Prometheus.
    assert alert["labels"] == {"queue": "mail", "service": "app", "team": "platform"}
    detail = (await client.get(f"/api/v1/incidents/{alert['incident_id']}", headers=AUTH)).json()
    assert detail["extras"]["alerts"][0]["rule"] == "QueueDepthHigh"
    rules = (await client.get("/api/v1/rules", headers=AUTH)).json()
    queue = next(r for r in rules["rules"] if r["name"] == "QueueDepthHigh")
    assert queue["critical"] == "200 jobs"
    assert queue["last_series"] == 1
    assert queue["file"].endswith("app.yaml")
    assert queue["line"] > 0
    assert (queue["value"], queue["matched_series"], queue["health"]) == (300, 1, "breaching")
    errors = next(r for r in rules["rules"] if r["name"] == "ErrorRateHigh")
    assert (errors["value"], errors["matched_series"], errors["health"]) == (None, 0, "no series")

    source.set_value("ErrorRateHigh", 0.001)
    clock.advance(timedelta(seconds=30))
    for _ in range(100):
        rules = (await client.get("/api/v1/rules", headers=AUTH)).json()
        errors = next(r for r in rules["rules"] if r["name"] == "ErrorRateHigh")
        if errors["matched_series"] == 1:
            break
        await asyncio.sleep(0.05)
    assert (errors["value"], errors["matched_series"], errors["health"]) == (0.001, 1, "healthy")


async def test_bad_status_filter_names_the_field(
    setup: tuple[AsyncTestClient[Litestar], ScriptedSource, Path, FrozenClock],
) -> None:
    client, *_ = setup
    response = await client.get("/api/v1/alerts?status=burning", headers=AUTH)
    assert response.status_code == 400
    assert "status" in response.text
    assert "burning" in response.text


async def test_reload_refuses_a_broken_set_and_accepts_a_fixed_one(
    setup: tuple[AsyncTestClient[Litestar], ScriptedSource, Path, FrozenClock],
) -> None:
    client, _, rules, _ = setup
    assert (await client.post("/api/v1/rules/reload")).status_code == 401
    (rules / "app.yaml").write_text(PACK.replace("critical: 200 jobs", "critical: 20 jobs"))
    refused = await client.post("/api/v1/rules/reload", headers=AUTH)
    assert refused.status_code == 422
    assert any("app.yaml:" in p and "critical" in p for p in refused.json()["problems"])
    shown = (await client.get("/api/v1/rules", headers=AUTH)).json()
    assert next(r for r in shown["rules"] if r["name"] == "QueueDepthHigh")["critical"] == "200 jobs"
    assert shown["last_reload_problems"]
    (rules / "app.yaml").write_text(PACK.replace("critical: 200 jobs", "critical: 300 jobs"))
    accepted = await client.post("/api/v1/rules/reload", headers=AUTH)
    assert accepted.status_code == 200
    assert accepted.json()["accepted"]
    shown = (await client.get("/api/v1/rules", headers=AUTH)).json()
    assert next(r for r in shown["rules"] if r["name"] == "QueueDepthHigh")["critical"] == "300 jobs"

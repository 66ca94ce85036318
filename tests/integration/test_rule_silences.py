"""Silences apply to our own rules' alerts: held back while muted, paged once when the silence ends,
and an open incident whose alerts all become muted stops escalating until the mute ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.alerting import component as alerting
from service.alerting import pushed_component
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.components import Component, Context
from service.escalation.component import build as escalation
from service.settings import load_settings
from service.testing.scripted_values import ScriptedSource

ROOT = Path(__file__).resolve().parents[2]
PACK = (Path(__file__).resolve().parents[1] / "fixtures" / "app-rules.yaml").read_text()
AUTH = {"Authorization": "Bearer w-secret"}
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def setup(
    tmp_path: Path, database_url: str, db: object
) -> AsyncIterator[tuple[Client, ScriptedSource, FrozenClock]]:
    rules = tmp_path / "rules"
    (rules / "policy").mkdir(parents=True)
    (rules / "app.yaml").write_text(PACK)
    for name in ("severities.yaml", "escalation.yaml"):
        (rules / "policy" / name).write_text((ROOT / "rules/policy" / name).read_text())
    settings = msgspec.structs.replace(
        load_settings({"INCIDENTD_API_TOKENS": "writer=w-secret"}),
        rules_dir=rules,
        templates_dir=ROOT / "incident_templates",
    )
    source = ScriptedSource()
    clock = FrozenClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))

    def rules_component(context: Context) -> Component:
        return alerting.build(context, source_factory=lambda _: source)

    components = [rules_component, pushed_component.build, escalation]
    app = build_app(settings, database_url, clock=clock, run_workers=True, components=components)
    async with AsyncTestClient(app) as client:
        await wait_until_ready(app)
        yield client, source, clock


async def _eventually(probe: Callable[[], Any], what: str) -> Any:
    for _ in range(80):
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out: {what}")


async def _silence(client: Client, clock: FrozenClock, name: str) -> str:
    body = {
        "matchers": [{"name": "alertname", "value": name, "isRegex": False}],
        "startsAt": clock.now.isoformat(),
        "endsAt": (clock.now + timedelta(hours=2)).isoformat(),
        "createdBy": "alice",
        "comment": "queue migration",
    }
    response = await client.post("/api/v2/silences", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    silence_id: str = response.json()["silenceID"]
    return silence_id


async def _incidents(client: Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get("/api/v1/incidents?status=all", headers=AUTH)).json()[
        "items"
    ]
    return items


async def test_rule_alert_fired_under_silence_pages_once_when_it_ends(
    setup: tuple[Client, ScriptedSource, FrozenClock],
) -> None:
    client, source, clock = setup
    silence_id = await _silence(client, clock, "QueueDepthHigh")
    source.set_value("QueueDepthHigh", 300, {"queue": "mail"})
    clock.advance(timedelta(seconds=30))

    async def firing() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await client.get("/api/v1/alerts?status=firing", headers=AUTH)).json()
        return found

    [alert] = await _eventually(firing, "the rule to fire")
    assert alert["incident_id"] is None
    assert alert["muted"] is True
    await asyncio.sleep(1.5)  # the release beat ran: still muted, still no incident
    assert await _incidents(client) == []
    [shown] = (await client.get("/api/v2/alerts?active=false", headers=AUTH)).json()
    assert shown["labels"]["alertname"] == "QueueDepthHigh"
    assert shown["status"]["silencedBy"] == [silence_id]

    assert (await client.delete(f"/api/v2/silence/{silence_id}", headers=AUTH)).status_code == 200
    [incident] = await _eventually(lambda: _incidents(client), "the page once the silence ended")
    assert incident["severity"] == "P1"
    clock.advance(timedelta(seconds=30))  # another evaluation of the same still-firing series
    await asyncio.sleep(1.5)
    [same] = await _incidents(client)
    timeline = (await client.get(f"/api/v1/incidents/{same['id']}", headers=AUTH)).json()["timeline"]
    assert [e["kind"] for e in timeline].count("declared") == 1
    assert [e["kind"] for e in timeline].count("attached") == 0


async def test_open_incident_whose_alerts_are_all_silenced_pauses_escalation(
    setup: tuple[Client, ScriptedSource, FrozenClock],
) -> None:
    client, source, clock = setup
    source.set_value("QueueDepthHigh", 300, {"queue": "mail"})
    clock.advance(timedelta(seconds=30))
    [incident] = await _eventually(lambda: _incidents(client), "the incident")
    url = f"/api/v1/incidents/{incident['id']}"

    async def kinds() -> list[str]:
        return [e["kind"] for e in (await client.get(url, headers=AUTH)).json()["timeline"]]

    silence_id = await _silence(client, clock, "QueueDepthHigh")
    await _eventually(lambda: _has(kinds, "silenced"), "the incident to be shown silenced")
    assert "escalation_stopped" in await kinds()
    detail = (await client.get(url, headers=AUTH)).json()
    assert (
        detail["extras"]["escalation"]["next"] is None
        or detail["extras"]["escalation"]["next"]["kind"] != "escalate"
    )
    await client.delete(f"/api/v2/silence/{silence_id}", headers=AUTH)
    await _eventually(lambda: _has(kinds, "unsilenced"), "the mute to end")
    assert "escalation_rearmed" in await kinds()


async def _has(kinds: Callable[[], Any], kind: str) -> bool:
    return kind in await kinds()

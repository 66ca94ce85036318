"""Alertmanager's v2 API in the app: pushes open one incident per group, re-sends change nothing,
resolution clears, bad alerts are named and the rest of the batch kept, silences mute."""

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

from service.alerting import pushed_component
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.escalation.component import build as escalation
from service.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer w-secret"}
READER = {"Authorization": "Bearer r-secret"}
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def setup(tmp_path: Path, database_url: str, db: object) -> AsyncIterator[tuple[Client, FrozenClock]]:
    rules = tmp_path / "rules"
    (rules / "policy").mkdir(parents=True)
    for name in ("severities.yaml", "inhibition.yaml", "escalation.yaml", "maintenance.yaml"):
        (rules / "policy" / name).write_text((ROOT / "rules/policy" / name).read_text())
    settings = msgspec.structs.replace(
        load_settings({"INCIDENTD_API_TOKENS": "writer=w-secret,viewer:read=r-secret"}),
        rules_dir=rules,
        templates_dir=ROOT / "incident_templates",
    )
    clock = FrozenClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))

    components = [pushed_component.build, escalation]
    app = build_app(settings, database_url, clock=clock, run_workers=True, components=components)
    async with AsyncTestClient(app) as client:
        await wait_until_ready(app)
        yield client, clock


def _alert(name: str, clock: FrozenClock, minutes: int = 4, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} is firing"},
        "startsAt": clock.now.isoformat(),
        "endsAt": (clock.now + timedelta(minutes=minutes)).isoformat(),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
    }


async def _incidents(client: Client) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/incidents?status=all", headers=AUTH)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


async def _until(client: Client, check: Any, what: str) -> list[dict[str, Any]]:
    """The workers run on their own one-second beat: wait for them (bounded), then assert."""
    for _ in range(60):
        found = await _incidents(client)
        if check(found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: {found}")


async def test_push_opens_one_incident_and_resends_change_nothing(setup: tuple[Client, FrozenClock]) -> None:
    client, clock = setup
    batch = [
        _alert("DiskFull", clock, service="db", instance="a", severity="critical"),
        _alert("DiskFull", clock, service="db", instance="b", severity="warning"),
    ]
    response = await client.post("/api/v2/alerts", json=batch, headers=AUTH)
    assert response.status_code == 200, response.text
    [incident] = await _incidents(client)
    assert incident["severity"] == "P1"
    assert incident["source"] == "prometheus"
    detail = (await client.get(f"/api/v1/incidents/{incident['id']}", headers=AUTH)).json()
    assert detail["extras"]["pushed_alerts"][0]["generator_url"].startswith("http://prometheus")
    declared = detail["timeline"][0]
    assert declared["kind"] == "declared"
    assert declared["source"] == "prometheus"
    assert declared["data"]["generator_url"] == "http://prometheus:9090/graph?g0.expr=up"
    events = len(detail["timeline"])
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        batch = [{**a, "endsAt": (clock.now + timedelta(minutes=4)).isoformat()} for a in batch]
        assert (await client.post("/api/v2/alerts", json=batch, headers=AUTH)).status_code == 200
    again = (await client.get(f"/api/v1/incidents/{incident['id']}", headers=AUTH)).json()
    assert len(again["timeline"]) == events
    assert again["incident"]["updated_at"] == detail["incident"]["updated_at"]
    listed = (await client.get("/api/v2/alerts", headers=READER)).json()
    assert sorted(a["labels"]["instance"] for a in listed) == ["a", "b"]
    # The shipped inhibit rule: the critical alert of a service mutes its warnings.
    assert {a["labels"]["instance"]: a["status"]["state"] for a in listed} == {
        "a": "active",
        "b": "suppressed",
    }
    assert all(len(a["fingerprint"]) == 16 for a in listed)


async def test_sent_resolved_and_lapsed_alerts_resolve_the_incident(
    setup: tuple[Client, FrozenClock],
) -> None:
    client, clock = setup
    first = _alert("QueueStuck", clock, service="mail", instance="a")
    second = _alert("QueueStuck", clock, service="mail", instance="b", minutes=2)
    await client.post("/api/v2/alerts", json=[first, second], headers=AUTH)
    [incident] = await _incidents(client)
    resolved = {**first, "endsAt": clock.now.isoformat()}
    clock.advance(timedelta(seconds=30))
    await client.post("/api/v2/alerts", json=[resolved], headers=AUTH)
    [still] = await _incidents(client)
    assert still["status"] == "triggered"  # b still fires
    clock.advance(timedelta(minutes=3))  # b's endsAt passes without a re-send
    [done] = await _until(client, lambda f: f[0]["status"] == "resolved", "resolved after endsAt")
    assert done["id"] == incident["id"]


async def test_bad_alerts_are_named_and_the_rest_is_kept(setup: tuple[Client, FrozenClock]) -> None:
    client, clock = setup
    many = {f"l{i}": "x" for i in range(10_000)}
    batch = [
        {"annotations": {}},
        {**_alert("Late", clock), "endsAt": (clock.now - timedelta(hours=1)).isoformat()},
        {"labels": {"bad-name": "x"}},
        {"labels": {"alertname": "Huge", **many}},
        _alert("Good", clock, service="api"),
    ]
    response = await client.post("/api/v2/alerts", json=batch, headers=AUTH)
    assert response.status_code == 400
    text = response.json()
    assert "[0].labels: required" in text
    assert "[1].endsAt" in text
    assert "[2].labels: invalid label name 'bad-name'" in text
    assert "[3].labels: 10001 labels" in text
    [incident] = await _incidents(client)
    assert incident["title"] == "Good is firing"
    big = b"[" + b",".join([b'{"labels":{"a":"' + b"x" * 1000 + b'"}}'] * 10_500) + b"]"
    response = await client.post(
        "/api/v2/alerts", content=big, headers={**AUTH, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert (await client.post("/api/v2/alerts", content=b"{not json", headers=AUTH)).status_code == 400


async def test_tokens_are_required(setup: tuple[Client, FrozenClock]) -> None:
    client, clock = setup
    assert (await client.post("/api/v2/alerts", json=[_alert("X", clock)])).status_code == 401
    assert (await client.post("/api/v2/alerts", json=[_alert("X", clock)], headers=READER)).status_code == 403
    assert (await client.get("/api/v2/alerts")).status_code == 401
    assert (await client.get("/api/v2/status")).status_code == 401
    status = (await client.get("/api/v2/status", headers=READER)).json()
    assert status["cluster"]["status"] == "disabled"
    assert status["versionInfo"]["version"]


async def test_silence_mutes_new_alerts_and_its_end_pages_once(setup: tuple[Client, FrozenClock]) -> None:
    client, clock = setup
    silence = {
        "matchers": [{"name": "service", "value": "pay.*", "isRegex": True, "isEqual": True}],
        "startsAt": clock.now.isoformat(),
        "endsAt": (clock.now + timedelta(hours=1)).isoformat(),
        "createdBy": "alice",
        "comment": "deploy",
    }
    response = await client.post("/api/v2/silences", json=silence, headers=AUTH)
    assert response.status_code == 200, response.text
    silence_id = response.json()["silenceID"]
    await client.post("/api/v2/alerts", json=[_alert("Down", clock, 120, service="payments")], headers=AUTH)
    await client.post("/api/v2/alerts", json=[_alert("Down", clock, 120, service="search")], headers=AUTH)
    [only] = await _incidents(client)
    assert only["labels"]["service"] == "search"
    listed = (await client.get("/api/v2/alerts?silenced=false", headers=AUTH)).json()
    assert [a["labels"]["service"] for a in listed] == ["search"]
    muted = (await client.get("/api/v2/alerts?active=false", headers=AUTH)).json()
    assert muted[0]["status"] == {
        "state": "suppressed",
        "silencedBy": [silence_id],
        "inhibitedBy": [],
        "mutedBy": [],
    }
    await asyncio.sleep(1.5)  # a sweep or two: the silence still holds
    assert len(await _incidents(client)) == 1
    assert (await client.delete(f"/api/v2/silence/{silence_id}", headers=AUTH)).status_code == 200
    shown = (await client.get(f"/api/v2/silence/{silence_id}", headers=AUTH)).json()
    assert shown["status"]["state"] == "expired"
    found = await _until(client, lambda f: len(f) == 2, "paged once the silence expired")
    await asyncio.sleep(1.5)
    assert len(await _incidents(client)) == 2
    assert sorted(i["labels"]["service"] for i in found) == ["payments", "search"]
    payments = next(i for i in found if i["labels"]["service"] == "payments")
    timeline = (await client.get(f"/api/v1/incidents/{payments['id']}", headers=AUTH)).json()["timeline"]
    assert [e["kind"] for e in timeline].count("declared") == 1


async def test_silence_input_errors(setup: tuple[Client, FrozenClock]) -> None:
    client, clock = setup
    base = {
        "startsAt": clock.now.isoformat(),
        "endsAt": (clock.now + timedelta(hours=1)).isoformat(),
        "createdBy": "alice",
        "comment": "",
    }
    regex = {**base, "matchers": [{"name": "a", "value": "(", "isRegex": True}]}
    response = await client.post("/api/v2/silences", json=regex, headers=AUTH)
    assert response.status_code == 400
    assert "invalid regex" in response.json()
    past = {
        **base,
        "endsAt": (clock.now - timedelta(hours=1)).isoformat(),
        "matchers": [{"name": "a", "value": "b", "isRegex": False}],
    }
    response = await client.post("/api/v2/silences", json=past, headers=AUTH)
    assert response.status_code == 400
    assert response.json().startswith("endsAt")
    missing = await client.get("/api/v2/silence/7d1d1b4c-0000-4000-8000-000000000000", headers=AUTH)
    assert missing.status_code == 404
    assert (await client.delete("/api/v2/silence/not-a-uuid", headers=AUTH)).status_code == 404
    unknown = {
        **base,
        "id": "7d1d1b4c-0000-4000-8000-000000000000",
        "matchers": [{"name": "a", "value": "b", "isRegex": False}],
    }
    assert (await client.post("/api/v2/silences", json=unknown, headers=AUTH)).status_code == 404


async def test_critical_inhibits_warning_of_same_service(setup: tuple[Client, FrozenClock]) -> None:
    client, clock = setup
    critical = _alert("ErrorsHigh", clock, 60, service="pay", severity="critical")
    await client.post("/api/v2/alerts", json=[critical], headers=AUTH)
    warning = _alert("LatencyHigh", clock, 60, service="pay", severity="warning")
    other = _alert("LatencyHigh", clock, 60, service="search", severity="warning")
    await client.post("/api/v2/alerts", json=[warning, other], headers=AUTH)
    titles = sorted(i["labels"]["service"] + ":" + i["labels"]["alertname"] for i in await _incidents(client))
    assert titles == ["pay:ErrorsHigh", "search:LatencyHigh"]
    inhibited = (await client.get("/api/v2/alerts?active=false", headers=AUTH)).json()
    [shown] = inhibited
    assert shown["labels"]["alertname"] == "LatencyHigh"
    critical_fp = next(
        a["fingerprint"]
        for a in (await client.get("/api/v2/alerts", headers=AUTH)).json()
        if a["labels"]["alertname"] == "ErrorsHigh"
    )
    assert shown["status"]["inhibitedBy"] == [critical_fp]
    hidden = (await client.get("/api/v2/alerts?inhibited=false", headers=AUTH)).json()
    assert "pay" not in [a["labels"]["service"] for a in hidden if a["labels"]["alertname"] == "LatencyHigh"]
    groups = (await client.get("/api/v2/alerts/groups", headers=AUTH)).json()
    assert {g["labels"]["alertname"] for g in groups} == {"ErrorsHigh", "LatencyHigh"}
    assert all(g["receiver"] == {"name": "incidentd"} for g in groups)


async def test_one_off_maintenance_window_mutes_and_is_listed(setup: tuple[Client, FrozenClock]) -> None:
    client, clock = setup
    bad = await client.post(
        "/api/v1/maintenance",
        json={"name": "x", "duration_minutes": 60, "matchers": "service=~("},
        headers=AUTH,
    )
    assert bad.status_code == 400
    assert "matchers" in bad.text
    made = await client.post(
        "/api/v1/maintenance",
        json={"name": "db upgrade", "duration_minutes": 120, "matchers": "service=db"},
        headers=AUTH,
    )
    assert made.status_code == 201, made.text
    await client.post("/api/v2/alerts", json=[_alert("Down", clock, 60, service="db")], headers=AUTH)
    assert await _incidents(client) == []
    [muted] = (await client.get("/api/v2/alerts?active=false", headers=AUTH)).json()
    assert muted["status"]["mutedBy"] == ["db upgrade"]
    listing = (await client.get("/api/v1/maintenance", headers=AUTH)).json()
    assert [w["name"] for w in listing["active"]] == ["db upgrade"]
    assert listing["active"][0]["owner"] == "writer"
    assert listing["active"][0]["matchers"] == ['service="db"']


async def test_alertmanager_webhook_maps_to_the_same_alert_states(setup: tuple[Client, FrozenClock]) -> None:
    client, clock = setup
    alert = {
        "status": "firing",
        "labels": {"alertname": "ApiDown", "service": "api", "severity": "critical"},
        "annotations": {"summary": "api is down"},
        "startsAt": clock.now.isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up%3D%3D0",
        "fingerprint": "ignored",
    }
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "incidentd",
        "groupKey": "{}:{}",
        "alerts": [alert],
    }
    assert (await client.post("/webhooks/alertmanager", json=payload)).status_code == 401
    response = await client.post("/webhooks/alertmanager", json=payload, headers=AUTH)
    assert response.status_code == 200, response.text
    [incident] = await _incidents(client)
    assert incident["source"] == "alertmanager"
    pushed = await client.post(
        "/api/v2/alerts", json=[_alert("ApiDown", clock, service="api", severity="critical")], headers=AUTH
    )
    assert pushed.status_code == 200
    assert len(await _incidents(client)) == 1  # the same label set through the other door: same alert
    clock.advance(timedelta(minutes=1))
    resolved = {**alert, "status": "resolved", "endsAt": clock.now.isoformat()}
    done = await client.post("/webhooks/alertmanager", json={**payload, "alerts": [resolved]}, headers=AUTH)
    assert done.status_code == 200
    [closed] = await _incidents(client)
    assert closed["status"] == "resolved"
    wrong = await client.post("/webhooks/alertmanager", json={**payload, "version": "3"}, headers=AUTH)
    assert wrong.status_code == 400
    assert "version" in wrong.json()["detail"]

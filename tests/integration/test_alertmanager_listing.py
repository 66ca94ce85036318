"""GET /api/v2/alerts and /alerts/groups list every unresolved alert in its Alertmanager state and honour
`active`, `silenced`, `inhibited`, `unprocessed`, `filter` and `receiver` as Alertmanager does.

No workers run here, so nothing sweeps behind the test's back: an alert whose silence ended stays
`unprocessed` (firing, unmuted, not yet paged) until a sweeper would page it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.adapters.postgres.database import Database
from service.alerting import pushed_component
from service.alerting.ingest import PushedAlerts
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.config.silence_policy import SilencePolicy
from service.incidents.service import IncidentService
from service.settings import load_settings
from service.silences.snapshot import Muter

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer w-secret"}
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def setup(tmp_path: Path, database_url: str, db: object) -> AsyncIterator[tuple[Client, FrozenClock]]:
    rules = tmp_path / "rules"
    (rules / "policy").mkdir(parents=True)
    for name in ("severities.yaml", "inhibition.yaml", "escalation.yaml", "maintenance.yaml"):
        (rules / "policy" / name).write_text((ROOT / "rules/policy" / name).read_text())
    settings = msgspec.structs.replace(
        load_settings({"INCIDENTD_API_TOKENS": "writer=w-secret"}),
        rules_dir=rules,
        templates_dir=ROOT / "incident_templates",
    )
    clock = FrozenClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))  # a Monday: no shipped window is open
    app = build_app(
        settings, database_url, clock=clock, run_workers=False, components=[pushed_component.build]
    )
    async with AsyncTestClient(app) as client:
        await wait_until_ready(app)
        yield client, clock


def _alert(clock: FrozenClock, minutes: int = 30, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": "Probe", **labels},
        "startsAt": clock.now.isoformat(),
        "endsAt": (clock.now + timedelta(minutes=minutes)).isoformat(),
    }


async def _states(client: Client, query: str = "") -> dict[str, str]:
    response = await client.get(f"/api/v2/alerts{query}", headers=AUTH)
    assert response.status_code == 200, response.text
    return {a["labels"]["instance"]: a["status"]["state"] for a in response.json()}


async def test_every_state_and_every_filter(setup: tuple[Client, FrozenClock]) -> None:
    client, clock = setup
    silence = {
        "matchers": [{"name": "service", "value": "pay", "isRegex": False, "isEqual": True}],
        "startsAt": clock.now.isoformat(),
        "endsAt": (clock.now + timedelta(hours=1)).isoformat(),
        "createdBy": "alice",
        "comment": "deploy",
    }
    silence_id = (await client.post("/api/v2/silences", json=silence, headers=AUTH)).json()["silenceID"]
    batch = [
        _alert(clock, instance="silenced", service="pay"),
        _alert(clock, instance="active", service="search"),
        _alert(clock, instance="critical", service="db", severity="critical"),
        _alert(clock, instance="inhibited", service="db", severity="warning"),
        _alert(clock, 1, instance="lapsed", service="search"),
    ]
    assert (await client.post("/api/v2/alerts", json=batch, headers=AUTH)).status_code == 200
    clock.advance(timedelta(minutes=2))  # `lapsed` passed its endsAt: resolved, though nobody swept yet

    listed = (await client.get("/api/v2/alerts", headers=AUTH)).json()
    by_instance = {a["labels"]["instance"]: a for a in listed}
    assert sorted(by_instance) == ["active", "critical", "inhibited", "silenced"]
    assert by_instance["silenced"]["status"] == {
        "state": "suppressed",
        "silencedBy": [silence_id],
        "inhibitedBy": [],
        "mutedBy": [],
    }
    assert by_instance["inhibited"]["status"]["state"] == "suppressed"
    assert by_instance["inhibited"]["status"]["inhibitedBy"] == [by_instance["critical"]["fingerprint"]]
    assert by_instance["active"]["status"] == {
        "state": "active",
        "silencedBy": [],
        "inhibitedBy": [],
        "mutedBy": [],
    }

    assert set(await _states(client, "?active=false")) == {"silenced", "inhibited"}
    assert set(await _states(client, "?silenced=false")) == {"active", "critical", "inhibited"}
    assert set(await _states(client, "?inhibited=false")) == {"active", "critical", "silenced"}
    assert set(await _states(client, "?silenced=false&inhibited=false")) == {"active", "critical"}
    assert set(await _states(client, '?filter=service="db"')) == {"critical", "inhibited"}
    assert set(await _states(client, "?filter=service=~d.*&filter=severity=warning")) == {"inhibited"}

    # The silence ends: the alert fires unmuted and has not been paged yet (no sweeper runs here).
    assert (await client.delete(f"/api/v2/silence/{silence_id}", headers=AUTH)).status_code == 200
    states = await _states(client)
    assert states["silenced"] == "unprocessed"
    assert "silenced" not in await _states(client, "?unprocessed=false")
    assert (await _states(client, "?active=false"))["silenced"] == "unprocessed"
    assert "silenced" not in await _states(client, "?active=false&unprocessed=false")


@pytest.mark.parametrize("path", ["/api/v2/alerts", "/api/v2/alerts/groups"])
async def test_receiver_filter_is_an_anchored_regex(setup: tuple[Client, FrozenClock], path: str) -> None:
    client, clock = setup
    await client.post("/api/v2/alerts", json=[_alert(clock, instance="a", service="x")], headers=AUTH)
    for receiver, count in (("incidentd", 1), ("incid.*", 1), ("incident", 0), ("other|incidentd", 1)):
        response = await client.get(path, params={"receiver": receiver}, headers=AUTH)
        assert response.status_code == 200, response.text
        assert len(response.json()) == count, receiver
    bad = await client.get(path, params={"receiver": "("}, headers=AUTH)
    assert bad.status_code == 400
    assert bad.json().startswith("receiver: invalid regex")


async def test_hostile_bodies_are_named_400s_on_either_road(setup: tuple[Client, FrozenClock]) -> None:
    client, clock = setup
    headers = {**AUTH, "content-type": "application/json"}
    nul = b'[{"labels": {"alertname": "A\\u0000B"}}]'
    response = await client.post("/api/v2/alerts", content=nul, headers=headers)
    assert response.status_code == 400
    assert "[0].labels.alertname" in response.text
    assert "NUL" in response.text
    deep = b'[{"labels": {"a": ' + b"[" * 100 + b"]" * 100 + b"}}]"
    response = await client.post("/api/v2/alerts", content=deep, headers=headers)
    assert response.status_code == 400
    assert "nested more than" in response.text
    huge = b'[{"labels": {"alertname": 99999999999999999999999}}]'
    response = await client.post("/api/v2/alerts", content=huge, headers=headers)
    assert response.status_code == 400
    assert "out of range" in response.text
    ignored = b'[{"labels": {"instance": "extra", "service": "x"}, "x": ' + b"[" * 100 + b"]" * 100 + b"}]"
    response = await client.post("/api/v2/alerts", content=ignored, headers=headers)
    assert response.status_code == 200  # an unknown field is ignored, as Alertmanager ignores it
    mixed = [_alert(clock, instance="kept", service="x"), {"labels": {"bad-name": "1"}}]
    response = await client.post("/api/v2/alerts", json=mixed, headers=AUTH)  # well formed: the fast road
    assert response.status_code == 400
    assert response.json() == "[1].labels: invalid label name 'bad-name'"
    assert set(await _states(client)) == {"kept", "extra"}


async def test_resends_move_the_lapse_and_a_shorter_one_brings_it_forward(
    setup: tuple[Client, FrozenClock], database_url: str
) -> None:
    """The expiry worker's beat, run here by hand (its own pool: the app serves from another loop)."""
    client, clock = setup
    db = Database(database_url)
    pushed = PushedAlerts(db, IncidentService(db, clock=clock), Muter(SilencePolicy()), clock)
    start = clock.now
    long, short = (
        _alert(clock, 4, instance="long", service="x"),
        _alert(clock, 4, instance="short", service="y"),
    )
    assert (await client.post("/api/v2/alerts", json=[long, short], headers=AUTH)).status_code == 200
    clock.advance(timedelta(minutes=1))
    resent = [
        {**long, "endsAt": (start + timedelta(minutes=5)).isoformat()},
        {**short, "endsAt": (start + timedelta(minutes=2)).isoformat()},
    ]
    assert (await client.post("/api/v2/alerts", json=resent, headers=AUTH)).status_code == 200
    clock.advance(timedelta(minutes=2, seconds=30))  # short's new end passed, long's first one not yet
    assert await pushed.expire() == 1
    assert set(await _states(client)) == {"long"}
    clock.advance(timedelta(minutes=1))  # long's first endsAt passed, but it was re-sent: it still fires
    assert await pushed.expire() == 0
    assert set(await _states(client)) == {"long"}
    clock.advance(timedelta(minutes=1))
    assert await pushed.expire() == 1
    assert await _states(client) == {}
    await db.close()

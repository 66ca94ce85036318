from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import msgspec
import pytest
from escalation_support import POLICY, ROOT
from litestar.testing import AsyncTestClient

from service.adapters.postgres.database import Database
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.escalation.component import EscalationConfig, build
from service.settings import Settings, load_settings

WRITER = {"Authorization": "Bearer writer-token-1"}
READER = {"Authorization": "Bearer reader-token-1"}


def api_settings() -> Settings:
    settings = load_settings({"INCIDENTD_API_TOKENS": "alice=writer-token-1,dash:read=reader-token-1"})
    return msgspec.structs.replace(
        settings, rules_dir=ROOT / "rules", templates_dir=ROOT / "incident_templates", workers=False
    )


@pytest.fixture
async def client(db: Database, database_url: str) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    component = functools.partial(build, config=EscalationConfig(policy_path=POLICY))
    app = build_app(api_settings(), database_url, components=[component], clock=FrozenClock())
    async with AsyncTestClient(app=app) as test_client:
        await wait_until_ready(app)
        yield test_client


async def test_detail_escalate_and_oncall_over_http(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    created = await client.post(
        "/api/v1/incidents",
        json={"title": "x", "severity": "P1", "labels": {"service": "payments"}},
        headers=WRITER,
    )
    incident_id = created.json()["incident"]["id"]
    base = f"/api/v1/incidents/{incident_id}"
    extras = (await client.get(base, headers=READER)).json()["extras"]["escalation"]
    assert extras["policy"] == "payments"
    assert extras["next"] == {
        "kind": "escalate",
        "due_at": "2026-01-01T00:15:00+00:00",
        "level": 1,
        "level_name": "Payments on-call engineer",
    }
    assert (await client.post(f"{base}/escalate", headers=READER)).status_code == 403
    escalated = await client.post(f"{base}/escalate", headers=WRITER)
    assert escalated.status_code == 200, escalated.text
    body = escalated.json()
    assert (body["level"], body["reason"], body["next_level"]) == (1, "manual", 2)
    timeline = (await client.get(base, headers=READER)).json()["timeline"]
    assert [(e["kind"], e["actor"]) for e in timeline][-1] == ("escalated", "alice")
    assert (await client.post("/api/v1/incidents/999999/escalate", headers=WRITER)).status_code == 404
    await client.post(f"{base}/resolve", headers=WRITER)
    conflict = await client.post(f"{base}/escalate", headers=WRITER)
    assert conflict.status_code == 409
    assert "resolved" in conflict.json()["detail"]

    oncall = (await client.get("/api/v1/oncall?service=payments", headers=READER)).json()
    assert oncall["policy"] == "payments"
    assert [(lv["number"], lv["delay_seconds"]) for lv in oncall["levels"]] == [
        (1, 900),
        (2, 1800),
        (3, 3600),
        (4, 7200),
    ]
    assert oncall["levels"][0]["targets"]["pagerduty"] == ["payments"]
    default = (await client.get("/api/v1/oncall", headers=READER)).json()
    assert default["policy"] == "default"
    assert default["levels"][3]["name"] == "CTO/VP Engineering"

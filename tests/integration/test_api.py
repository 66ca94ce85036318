from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from service.adapters.postgres.database import Database
from service.app import build_app, wait_until_ready
from service.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
WRITER = {"Authorization": "Bearer writer-token-1"}
READER = {"Authorization": "Bearer reader-token-1"}


def api_settings() -> object:
    settings = load_settings({"INCIDENTD_API_TOKENS": "alice=writer-token-1,dash:read=reader-token-1"})
    return msgspec.structs.replace(
        settings, rules_dir=ROOT / "rules", templates_dir=ROOT / "incident_templates", workers=False
    )


@pytest.fixture
async def client(db: Database, database_url: str) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = build_app(api_settings(), database_url)  # type: ignore[arg-type]
    async with AsyncTestClient(app=app) as test_client:
        await wait_until_ready(app)
        yield test_client


async def declare(client: AsyncTestClient, **body: object) -> dict[str, object]:  # type: ignore[type-arg]
    response = await client.post("/api/v1/incidents", json={"severity": "P2", **body}, headers=WRITER)
    assert response.status_code in (200, 201), response.text
    result: dict[str, object] = response.json()
    return result


async def test_mutations_need_a_token_with_write(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    body = {"title": "x", "severity": "P1"}
    missing = await client.post("/api/v1/incidents", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await client.post(
        "/api/v1/incidents", json=body, headers={"Authorization": "Bearer nope-nope-nope"}
    )
    assert wrong.status_code == 401
    read_only = await client.post("/api/v1/incidents", json=body, headers=READER)
    assert read_only.status_code == 403
    assert "write" in read_only.json()["detail"]
    listed = await client.get("/api/v1/incidents", headers=READER)
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    assert (await client.get("/api/v1/incidents")).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "severity": "P1"}, "title"),
        ({"title": 7, "severity": "P1"}, "title"),
        ({"title": "x", "severity": "P7"}, "severity"),
        ({"severity": "P1"}, "title"),
        ({"title": "x", "severity": "P1", "labels": {"service": 3}}, "labels"),
        ({"title": "x", "severity": "P1", "colour": "red"}, "colour"),
    ],
)
async def test_validation_errors_name_the_field(
    client: AsyncTestClient,  # type: ignore[type-arg]
    body: dict[str, object],
    field: str,
) -> None:
    response = await client.post("/api/v1/incidents", json=body, headers=WRITER)
    assert response.status_code == 400
    assert field in response.text
    assert (await client.get("/api/v1/incidents", headers=READER)).json()["items"] == []


async def test_malformed_json_is_a_400(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/api/v1/incidents", content=b"{not json", headers={**WRITER, "Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_lifecycle_over_http(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    created = await declare(client, title="checkout errors", dedup_key="checkout", labels={"service": "api"})
    assert created["created"] is True
    incident = created["incident"]
    assert isinstance(incident, dict)
    incident_id = incident["id"]
    assert incident["human_id"] == f"INC-{incident_id}"

    again = await declare(client, title="checkout errors", dedup_key="checkout", severity="P1")
    assert again["created"] is False
    assert again["incident"]["id"] == incident_id  # type: ignore[index]
    assert again["incident"]["severity"] == "P1"  # type: ignore[index]

    base = f"/api/v1/incidents/{incident_id}"
    ack = await client.post(f"{base}/acknowledge", headers=WRITER)
    assert ack.status_code == 200
    assert ack.json()["incident"]["status"] == "acknowledged"
    conflict = await client.post(f"{base}/acknowledge", headers=WRITER)
    assert conflict.status_code == 409
    assert "acknowledged" in conflict.json()["detail"]

    assert (await client.post(f"{base}/assign", json={"assignee": "bob"}, headers=WRITER)).status_code == 200
    note = await client.post(f"{base}/notes", json={"text": "rolled back"}, headers=WRITER)
    assert note.status_code == 201
    sev = await client.post(
        f"{base}/severity", json={"severity": "P0", "reason": "all regions"}, headers=WRITER
    )
    assert sev.status_code == 200
    assert (
        await client.post(f"{base}/mitigate", json={"note": "failover"}, headers=WRITER)
    ).status_code == 200
    assert (await client.post(f"{base}/resolve", headers=WRITER)).status_code == 200
    assert (await client.post(f"{base}/reopen", headers=WRITER)).status_code == 200

    detail = (await client.get(base, headers=READER)).json()
    public = load_settings({}).public_url
    assert detail["incident"]["url"] == f"{public}/incidents/{incident_id}"  # the console page
    assert detail["incident"]["api_url"] == f"{public}/api/v1/incidents/{incident_id}"
    all_kinds = [e["kind"] for e in detail["timeline"]]
    assert "escalation_stopped" in all_kinds  # the escalation component reacts to the acknowledge
    kinds = [k for k in all_kinds if not k.startswith("escalation_")]
    assert kinds == [
        "declared",
        "attached",
        "severity_raised",
        "acknowledged",
        "assigned",
        "note",
        "severity_raised",
        "mitigated",
        "resolved",
        "reopened",
    ]
    assert {e["actor"] for e in detail["timeline"] if not e["kind"].startswith("escalation_")} == {"alice"}
    assert detail["incident"]["status"] == "triggered"
    assert detail["response_target_seconds"] == 300


async def test_unknown_incident_is_404(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    assert (await client.get("/api/v1/incidents/999999", headers=READER)).status_code == 404
    assert (await client.post("/api/v1/incidents/999999/resolve", headers=WRITER)).status_code == 404


async def test_list_filters_and_pages(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    ids = []
    for index in range(5):
        created = await declare(client, title=f"i{index}", severity="P1" if index % 2 else "P3")
        ids.append(created["incident"]["id"])  # type: ignore[index]
    await client.post(f"/api/v1/incidents/{ids[0]}/resolve", headers=WRITER)

    p1 = (await client.get("/api/v1/incidents?severity=P1", headers=READER)).json()
    assert [i["id"] for i in p1["items"]] == [ids[3], ids[1]]
    open_ = (await client.get("/api/v1/incidents?status=open", headers=READER)).json()
    assert len(open_["items"]) == 4
    page1 = (await client.get("/api/v1/incidents?limit=2", headers=READER)).json()
    assert [i["id"] for i in page1["items"]] == [ids[4], ids[3]]
    page2 = (
        await client.get(f"/api/v1/incidents?limit=2&before={page1['next_before']}", headers=READER)
    ).json()
    assert [i["id"] for i in page2["items"]] == [ids[2], ids[1]]
    page3 = (
        await client.get(f"/api/v1/incidents?limit=2&before={page2['next_before']}", headers=READER)
    ).json()
    assert [i["id"] for i in page3["items"]] == [ids[0]]
    assert page3["next_before"] is None
    bad = await client.get("/api/v1/incidents?status=sleeping", headers=READER)
    assert bad.status_code == 400
    assert "status" in bad.json()["detail"]
    bad_limit = await client.get("/api/v1/incidents?limit=0", headers=READER)
    assert bad_limit.status_code == 400


async def test_health_readiness_metrics_openapi(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "workers": "ok"}
    await declare(client, title="x", severity="P0")
    metrics = (await client.get("/metrics")).text
    assert 'incidentd_open_incidents{severity="P0"} 1.0' in metrics
    assert (
        'incidentd_http_request_duration_seconds_bucket{le="0.005",method="POST",path="/api/v1/incidents"'
        in metrics
    )
    assert "incidentd_incident_events_total" in metrics
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/incidents/{incident_id}/acknowledge" in schema["paths"]

"""Hostile input gets a 400 that names the field, and stores nothing; a bug gets a logged, quotable 500."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
import pytest
import structlog
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from service.adapters.postgres.database import Database
from service.app import build_app, default_components, wait_until_ready
from service.components import Component, Context
from service.settings import load_settings
from service.testing.slack_signing import (
    block_actions_payload,
    command_body,
    interaction_body,
    signature_headers,
)

ROOT = Path(__file__).resolve().parents[2]
WRITER = {"Authorization": "Bearer writer-token-1"}
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PD_SECRET = "pd-webhook-secret"
TOO_BIG = 2**63
DEEP = b"[" * 100_000 + b"]" * 100_000
Client = AsyncTestClient[Litestar]


@get("/test-only/boom", include_in_schema=False)
async def boom() -> None:
    raise RuntimeError("a bug in a handler")


def _boom_component(_: Context) -> Component:
    return Component(name="boom", routes=[boom])


@pytest.fixture
async def client(db: Database, database_url: str) -> AsyncIterator[Client]:
    settings = load_settings(
        {
            "INCIDENTD_API_TOKENS": "alice=writer-token-1",
            "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "PAGERDUTY_WEBHOOK_SECRETS": PD_SECRET,
        }
    )
    settings = msgspec.structs.replace(
        settings, rules_dir=ROOT / "rules", templates_dir=ROOT / "incident_templates", workers=False
    )
    app = build_app(settings, database_url, components=[*default_components(), _boom_component])
    async with AsyncTestClient(app=app) as test_client:
        await wait_until_ready(app)
        yield test_client


def _refused(response: Any, field: str) -> str:
    assert response.status_code == 400, response.text
    detail = str(response.json()["detail"])
    assert detail.startswith(f"{field}:"), detail
    return detail


async def _count(db: Database, table: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 - fixed table names


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "disk\x00full"}, "title"),
        ({"title": "ok", "description": "\x00"}, "description"),
        ({"title": "ok", "dedup_key": "a\x00"}, "dedup_key"),
        ({"title": "ok", "labels": {"team": "a\x00b"}}, "labels.team"),
        ({"title": "ok", "labels": {"te\x00am": "x"}}, "labels.te\\u0000am"),
        ({"title": "ok", "labels": {"n": TOO_BIG}}, "labels.n"),
    ],
)
async def test_declare_refuses_nul_and_huge_integers_by_field(
    client: Client, db: Database, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/v1/incidents", json={"severity": "P2", **body}, headers=WRITER)
    detail = _refused(response, field)
    assert "NUL" in detail or "out of range" in detail
    assert await _count(db, "incidents") == 0


async def test_changes_to_an_incident_refuse_nul_by_field(client: Client, db: Database) -> None:
    made = await client.post("/api/v1/incidents", json={"severity": "P2", "title": "x"}, headers=WRITER)
    incident_id = made.json()["incident"]["id"]
    base = f"/api/v1/incidents/{incident_id}"
    before = await _count(db, "incident_events")
    for path, body, field in [
        ("/acknowledge", {"note": "on it\x00"}, "note"),
        ("/notes", {"text": "\x00"}, "text"),
        ("/assign", {"assignee": "al\x00ice"}, "assignee"),
        ("/severity", {"severity": "P1", "reason": "\x00"}, "reason"),
    ]:
        _refused(await client.post(base + path, json=body, headers=WRITER), field)
    assert await _count(db, "incident_events") == before


async def test_ids_and_query_parameters_beyond_a_bigint_are_refused_by_name(client: Client) -> None:
    for path, field in [
        (f"/api/v1/incidents/{TOO_BIG}", "incident_id"),
        (f"/api/v1/incidents/{TOO_BIG}/acknowledge", "incident_id"),
        (f"/api/v1/incidents?before={TOO_BIG}", "before"),
        (f"/api/v1/notifications?incident_id={TOO_BIG}", "incident_id"),
        (f"/api/v1/notifications?before=-{TOO_BIG + 1}", "before"),
        ("/api/v1/alerts?rule=disk%00", "rule"),
        ("/api/v1/incidents?status=open%00", "status"),
    ]:
        method = client.post if path.endswith("acknowledge") else client.get
        _refused(await method(path, headers=WRITER), field)
    made = await client.post("/api/v1/incidents", json={"severity": "P2", "title": "x"}, headers=WRITER)
    rca = f"/api/v1/incidents/{made.json()['incident']['id']}/rca"
    assert (await client.post(rca, headers=WRITER)).status_code == 201
    response = await client.get(f"{rca}/diff?from=1&to={2**31}", headers=WRITER)
    assert response.status_code == 400, response.text
    assert "to" in response.text


async def test_deeply_nested_json_is_a_400_not_a_recursion_error(client: Client, db: Database) -> None:
    headers = {**WRITER, "Content-Type": "application/json"}
    _refused(await client.post("/api/v1/incidents", content=DEEP, headers=headers), "body")
    nested: Any = "x"
    for _ in range(100):
        nested = {"a": nested}
    response = await client.post(
        "/api/v1/incidents", json={"severity": "P2", "title": "x", "labels": nested}, headers=WRITER
    )
    assert "nested more than 64 levels" in _refused(response, "labels" + ".a" * 64)
    assert await _count(db, "incidents") == 0


async def test_an_unexpected_error_is_logged_with_its_traceback_and_request_id(client: Client) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await client.get("/test-only/boom", headers={"X-Request-ID": "req-from-proxy-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-from-proxy-1"
    body = response.json()
    assert body["request_id"] == "req-from-proxy-1"
    assert "a bug in a handler" not in response.text, "details stay in the log"
    [entry] = [e for e in logs if e["event"] == "unhandled_error"]
    assert entry["request_id"] == "req-from-proxy-1"
    assert isinstance(entry["exc_info"], RuntimeError)
    assert entry["path"] == "/test-only/boom"

    fresh = await client.get("/test-only/boom", headers={"X-Request-ID": "not a token; <script>"})
    rid = fresh.json()["request_id"]
    assert rid == fresh.headers["x-request-id"]
    assert len(rid) == 32, "an unusable id from the caller is replaced by a fresh one"
    assert (await client.get("/healthz")).headers["x-request-id"]


async def test_signed_slack_commands_and_interactions_with_hostile_content_get_a_400(
    client: Client, db: Database
) -> None:
    body = command_body("declare P2 disk\x00full")
    response = await client.post(
        "/slack/commands", content=body, headers=signature_headers(SLACK_SECRET, body)
    )
    _refused(response, "text")

    payload = block_actions_payload("incident_ack", "1\x00")
    body = interaction_body(payload)
    response = await client.post(
        "/slack/interactions", content=body, headers=signature_headers(SLACK_SECRET, body)
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]

    body = urlencode({"payload": "[" * 50_000}).encode()
    response = await client.post(
        "/slack/interactions", content=body, headers=signature_headers(SLACK_SECRET, body)
    )
    assert response.status_code == 400
    assert "nested more than" in response.json()["detail"]
    assert await _count(db, "incidents") == 0


def _pd_headers(body: bytes) -> dict[str, str]:
    digest = hmac.new(PD_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-PagerDuty-Signature": f"v1={digest}"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            json.dumps({"event": {"event_type": "incident.acknowledged", "data": {"incident_key": "k\x00"}}}),
            "event.data.incident_key",
        ),
        (json.dumps({"event": {"event_type": "incident.resolved", "id": TOO_BIG}}), "event.id"),
        ("[" * 100_000, "body"),
    ],
)
async def test_signed_pagerduty_webhooks_with_hostile_content_get_a_400(
    client: Client, body: str, field: str
) -> None:
    raw = body.encode()
    _refused(await client.post("/webhooks/pagerduty", content=raw, headers=_pd_headers(raw)), field)


async def test_openapi_says_which_operations_need_a_token_and_which_bodies_are_closed(client: Client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert "security" not in schema, "no blanket token requirement"
    for public in ("/healthz", "/readyz", "/metrics"):
        assert "security" not in schema["paths"][public]["get"], public
    assert schema["paths"]["/api/v1/incidents"]["post"]["security"] == [{"bearer": []}]
    assert schema["paths"]["/api/v1/incidents/{incident_id}"]["get"]["security"] == [{"bearer": []}]
    components = schema["components"]["schemas"]
    for body in ("DeclareRequest", "NoteRequest", "AssignRequest", "SaveRequest"):
        assert components[body]["additionalProperties"] is False, body
    ids = schema["paths"]["/api/v1/incidents/{incident_id}"]["get"]["parameters"]
    assert [p["schema"].get("maximum") for p in ids if p["name"] == "incident_id"] == [2**63 - 1]


async def test_text_answers_name_their_charset_once(client: Client) -> None:
    made = await client.post("/api/v1/incidents", json={"severity": "P2", "title": "x"}, headers=WRITER)
    rca = f"/api/v1/incidents/{made.json()['incident']['id']}/rca"
    assert (await client.post(rca, headers=WRITER)).status_code == 201
    for path in ("/metrics", f"{rca}/export", f"{rca}/diff"):
        response = await client.get(path, headers=WRITER)
        assert response.status_code == 200, path
        assert response.headers["content-type"].count("charset") == 1, response.headers["content-type"]

"""Slack's signature check, its buttons and the answers that arrive later through response_url."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from slack_harness import SECRET, Client, Receiver, click, command, slack_app

from service.adapters.postgres.database import Database
from service.app import wait_until_ready
from service.domain.incidents import Status
from service.incidents.service import IncidentService
from service.testing.slack_signing import block_actions_payload, command_body, signature_headers

REJECTED = "incidentd_slack_requests_rejected_total"


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value(REJECTED, {"reason": reason}) or 0.0


@pytest.fixture
async def client(db: Database, database_url: str) -> AsyncIterator[Client]:
    app = slack_app(database_url)
    async with AsyncTestClient(app=app) as test_client:
        await wait_until_ready(app)
        yield test_client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def incidents(db: Database) -> IncidentService:
    return IncidentService(db)


async def declare(client: Client) -> int:
    _, body = await command(client, "declare P1 payments down")
    return int(body["text"].split("*")[1].removeprefix("INC-"))


async def post(client: Client, body: bytes, headers: dict[str, str]) -> int:
    return (await client.post("/slack/commands", content=body, headers=headers)).status_code


async def test_unsigned_forged_stale_and_replayed_requests_are_refused(
    client: Client, incidents: IncidentService
) -> None:
    declare_body = command_body("declare P1 should never exist")
    good = signature_headers(SECRET, declare_body)
    before = {r: rejected(r) for r in ("missing", "malformed", "bad_signature", "stale", "replayed")}

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert await post(client, declare_body, form) == 401
    assert await post(client, declare_body, {**good, "X-Slack-Signature": "sha1=abc"}) == 401
    forged = signature_headers("not-the-secret", declare_body)
    assert await post(client, declare_body, forged) == 401
    tampered = command_body("declare P0 something else")
    assert await post(client, tampered, good) == 401
    old = int(time.time()) - 301
    assert await post(client, declare_body, signature_headers(SECRET, declare_body, old)) == 401
    assert await incidents.list() == []

    fresh = command_body("declare P2 once only")
    headers = signature_headers(SECRET, fresh)
    assert await post(client, fresh, headers) == 200
    assert await post(client, fresh, headers) == 401  # the same request again: a replay
    assert [i.title for i in await incidents.list()] == ["once only"]

    assert rejected("missing") == before["missing"] + 1
    assert rejected("malformed") == before["malformed"] + 1
    assert rejected("bad_signature") == before["bad_signature"] + 2
    assert rejected("stale") == before["stale"] + 1
    assert rejected("replayed") == before["replayed"] + 1
    metrics = (await client.get("/metrics")).text
    assert f'{REJECTED}{{reason="stale"}}' in metrics


async def test_buttons_are_signed_too(client: Client, incidents: IncidentService, receiver: Receiver) -> None:
    incident_id = await declare(client)
    payload = block_actions_payload("incident_ack", str(incident_id), response_url=receiver.url("r"))
    assert await click(client, payload, secret="wrong-secret") == 401
    assert await click(client, payload, timestamp=int(time.time()) - 600) == 401
    incident, _ = await incidents.get(incident_id)
    assert incident.status is Status.TRIGGERED
    assert receiver.received.empty()


async def test_without_a_secret_everything_is_refused(db: Database, database_url: str) -> None:
    app = slack_app(database_url, secret=None)
    async with AsyncTestClient(app=app) as client:
        await wait_until_ready(app)
        before = rejected("unconfigured")
        status, body = await command(client, "declare P1 x")
        assert status == 503
        assert "SLACK_SIGNING_SECRET is not configured" in body["detail"]
        assert (await client.post("/slack/interactions", content=b"payload=%7B%7D")).status_code == 503
        assert rejected("unconfigured") == before + 2


async def test_buttons_act_as_the_clicking_user_and_answer_via_response_url(
    client: Client, incidents: IncidentService, receiver: Receiver
) -> None:
    incident_id = await declare(client)
    bob = {"user_id": "U0BOB", "user_name": "bob"}
    for action_id, expected in [
        ("incident_ack", "acknowledged"),
        ("incident_escalate", "escalated"),
        ("incident_resolve", "resolved"),
    ]:
        payload = block_actions_payload(
            action_id, str(incident_id), response_url=receiver.url(action_id), **bob
        )
        assert await click(client, payload) == 200
        path, body = await receiver.next()
        assert path == f"/{action_id}"
        assert expected in body["text"]
        assert body["response_type"] == "in_channel"
        assert body["replace_original"] is False
    incident, events = await incidents.get(incident_id)
    assert incident.status is Status.RESOLVED
    assert [(e.kind, e.actor, e.source) for e in events[1:]] == [
        ("acknowledged", "@bob (U0BOB)", "slack"),
        ("escalated", "@bob (U0BOB)", "slack"),
        ("resolved", "@bob (U0BOB)", "slack"),
    ]

    again = block_actions_payload("incident_ack", str(incident_id), response_url=receiver.url("again"))
    assert await click(client, again) == 200
    _, refusal = await receiver.next()
    assert refusal["response_type"] == "ephemeral"
    assert "cannot acknowledge an incident that is resolved" in refusal["text"]

    bad = block_actions_payload("incident_ack", "not-an-id", response_url=receiver.url("bad"))
    assert await click(client, bad) == 200
    _, complaint = await receiver.next()
    assert "carries no incident id" in complaint["text"]


async def test_other_interactions_are_acknowledged_and_ignored(
    client: Client, incidents: IncidentService, receiver: Receiver
) -> None:
    incident_id = await declare(client)
    foreign = block_actions_payload("someone_elses_button", str(incident_id), response_url=receiver.url("x"))
    assert await click(client, foreign) == 200
    assert await click(client, {"type": "view_submission", "user": {"id": "U0ALICE"}}) == 200
    body = b"payload=not-json"
    response = await client.post("/slack/interactions", content=body, headers=signature_headers(SECRET, body))
    assert response.status_code == 400
    # an ack after the ignored ones proves nothing was queued ahead of it
    ack = block_actions_payload("incident_ack", str(incident_id), response_url=receiver.url("ack"))
    assert await click(client, ack) == 200
    path, _ = await receiver.next()
    assert path == "/ack"
    _, events = await incidents.get(incident_id)
    assert [e.kind for e in events] == ["declared", "acknowledged"]


async def test_a_slow_database_gets_a_quick_answer_and_the_result_later(
    db: Database, database_url: str, incidents: IncidentService, receiver: Receiver
) -> None:
    app = slack_app(database_url, reply_within=0.2)
    async with AsyncTestClient(app=app) as client:
        await wait_until_ready(app)
        incident_id = await declare(client)
        async with db.transaction() as conn:
            await conn.execute("SELECT 1 FROM incidents WHERE id = $1 FOR UPDATE", incident_id)
            status, body = await command(client, f"ack {incident_id}", response_url=receiver.url("later"))
            assert status == 200
            assert body["response_type"] == "ephemeral"
            assert "Still working" in body["text"]
            assert receiver.received.empty()
        path, later = await receiver.next()
        assert path == "/later"
        assert later["response_type"] == "in_channel"
        assert f"acknowledged :eyes: *INC-{incident_id}*" in later["text"]
        incident, _ = await incidents.get(incident_id)
        assert incident.status is Status.ACKNOWLEDGED


def test_payload_helper_matches_slack_shape() -> None:
    payload = block_actions_payload("incident_resolve", "42", response_url="https://hooks.slack.com/x")
    assert payload["type"] == "block_actions"
    assert payload["actions"][0]["action_id"] == "incident_resolve"
    assert payload["actions"][0]["value"] == "42"
    assert {"user", "channel", "message", "response_url", "container", "trigger_id"} <= payload.keys()
    json.dumps(payload)

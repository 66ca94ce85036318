"""Notifications over HTTP: PagerDuty webhooks (signatures, no echo), held intents, dead letters."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from notification_harness import (
    FAST,
    ROUTING_KEY,
    SLACK_TOKEN,
    build_notifications,
    deliver_until,
    notification_settings,
    outbox,
    running_fakes,
)

from service.adapters.postgres.database import Database
from service.app import build_app, wait_until_ready
from service.domain.incidents import Actor
from service.domain.severity import Severity
from service.notifications.component import NotificationOptions, make_build
from service.settings import load_settings
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack

WRITER = {"Authorization": "Bearer writer-token-1"}
READER = {"Authorization": "Bearer reader-token-1"}
RULES = Actor(name="rules", source="rules")
OLD_SECRET, NEW_SECRET = "old-webhook-secret", "new-webhook-secret"


def sign(body: bytes, *secrets: str) -> str:
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def webhook(event_type: str, incident_key: str, user: str = "Pat On-Call") -> bytes:
    event = {
        "event": {
            "id": f"evt-{event_type}",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-03-01T12:00:00Z",
            "agent": {"id": "PUSER01", "summary": user, "type": "user_reference"},
            "client": {"name": "PagerDuty"},
            "data": {"id": "PINC001", "type": "incident", "incident_key": incident_key, "status": "x"},
        }
    }
    return json.dumps(event).encode()


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakePagerDuty, FakeSlack]]:
    async with running_fakes() as pair:
        yield pair


def app_for(pd: FakePagerDuty, slack: FakeSlack, database_url: str, *, credentials: bool) -> Any:
    base = notification_settings(pd, slack, credentials=credentials)
    tokens = load_settings(
        {"INCIDENTD_API_TOKENS": "alice=writer-token-1,dash:read=reader-token-1"}
    ).api_tokens
    settings = msgspec.structs.replace(
        base, api_tokens=tokens, pagerduty_webhook_secrets=(OLD_SECRET, NEW_SECRET), workers=False
    )
    factory = make_build(
        NotificationOptions(env={}, delivery=FAST, slack_min_interval=0.0, pacing={"pagerduty": None})
    )
    return build_app(settings, database_url, components=[factory])


async def test_webhooks_verify_signatures_apply_once_and_never_echo(
    db: Database, database_url: str, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    app = app_for(pd, slack, database_url, credentials=True)
    async with AsyncTestClient(app=app) as client:
        await wait_until_ready(app)
        created = await client.post(
            "/api/v1/incidents",
            json={"title": "db down", "severity": "P0", "dedup_key": "db-down"},
            headers=WRITER,
        )
        incident_id = created.json()["incident"]["id"]
        body = webhook("incident.acknowledged", "db-down")

        bad = await client.post(
            "/webhooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": sign(body, "nope")}
        )
        assert bad.status_code == 401
        missing = await client.post("/webhooks/pagerduty", content=body)
        assert missing.status_code == 401
        tampered = body.replace(b"Pat On-Call", b"Mallory")
        forged = await client.post(
            "/webhooks/pagerduty", content=tampered, headers={"X-PagerDuty-Signature": sign(body, NEW_SECRET)}
        )
        assert forged.status_code == 401
        detail = (await client.get(f"/api/v1/incidents/{incident_id}", headers=READER)).json()
        assert detail["incident"]["status"] == "triggered"
        assert (
            'incidentd_pagerduty_webhooks_total{outcome="bad_signature"}'
            in (await client.get("/metrics")).text
        )

        # Rotation: PagerDuty signs with several secrets; any configured one matching is enough.
        rotated = sign(body, "retired-secret", NEW_SECRET)
        ok = await client.post(
            "/webhooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": rotated}
        )
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"status": "applied", "incident_id": incident_id}
        again = await client.post(
            "/webhooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": sign(body, OLD_SECRET)}
        )
        assert again.json()["status"] == "duplicate"

        resolved = webhook("incident.resolved", "db-down")
        done = await client.post(
            "/webhooks/pagerduty",
            content=resolved,
            headers={"X-PagerDuty-Signature": sign(resolved, OLD_SECRET)},
        )
        assert done.json()["status"] == "applied"
        unknown = webhook("incident.acknowledged", "never-sent")
        miss = await client.post(
            "/webhooks/pagerduty",
            content=unknown,
            headers={"X-PagerDuty-Signature": sign(unknown, NEW_SECRET)},
        )
        assert miss.json()["status"] == "unmatched"

        detail = (await client.get(f"/api/v1/incidents/{incident_id}", headers=READER)).json()
    timeline = [(e["kind"], e["actor"], e["source"]) for e in detail["timeline"]]
    assert ("acknowledged", "Pat On-Call", "pagerduty") in timeline
    assert ("resolved", "Pat On-Call", "pagerduty") in timeline
    assert [k for k, _, _ in timeline].count("acknowledged") == 1
    pd_rows = await outbox(db, channel="pagerduty")
    assert [r["kind"] for r in pd_rows] == ["trigger"], "what PagerDuty told us must not be sent back to it"
    slack_kinds = [r["kind"] for r in await outbox(db, channel="slack", target="#alerts")]
    assert slack_kinds == ["post", "update", "update"], "Slack still hears about PagerDuty's ack and resolve"


async def test_without_credentials_intents_are_held_visible_and_sent_once_configured(
    db: Database, database_url: str, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack, credentials=False))
    await incidents.declare(title="api down", severity=Severity.P1, actor=RULES)
    await sender.drain()
    rows = await outbox(db)
    assert len(rows) == 3
    assert {r["status"] for r in rows} == {"held"}
    reasons = {r["channel"]: r["last_error"] for r in rows}
    assert "PAGERDUTY_ROUTING_KEY" in reasons["pagerduty"]
    assert "SLACK_BOT_TOKEN" in reasons["slack"]
    assert pd.received == []
    assert slack.received == []

    app = app_for(pd, slack, database_url, credentials=False)
    async with AsyncTestClient(app=app) as client:
        await wait_until_ready(app)
        listed = await client.get("/api/v1/notifications?status=held", headers=READER)
        assert listed.status_code == 200
        assert len(listed.json()["items"]) == 3
        assert (await client.get("/api/v1/notifications?status=bogus", headers=READER)).status_code == 400

    _, configured, _ = build_notifications(db, notification_settings(pd, slack, credentials=True))
    assert await configured.release_held() == 3
    await deliver_until(
        [configured], lambda: len(pd.events) == 1 and len(slack.calls("chat.postMessage")) == 2
    )
    assert {r["status"] for r in await outbox(db)} == {"sent"}


async def test_dead_letter_is_recorded_listed_and_retried_without_leaking_secrets(
    db: Database, database_url: str, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, _ = fakes
    slack = FakeSlack(channel_names=("alerts",))  # no #alerts-critical: Slack answers channel_not_found
    await slack.start()
    try:
        incidents, sender, _ = build_notifications(db, notification_settings(pd, slack))
        result = await incidents.declare(title="api down", severity=Severity.P1, actor=RULES)
        await deliver_until(
            [sender], lambda: len(pd.events) == 1 and len(slack.calls("chat.postMessage")) == 1
        )
        await sender.drain()
        dead = await outbox(db, status="dead")
        assert [(r["channel"], r["target"]) for r in dead] == [("slack", "#alerts-critical")]
        assert "channel_not_found" in dead[0]["last_error"]
        _, timeline = await incidents.get(result.incident.id)
        failed = [e.data for e in timeline if e.kind == "notification_failed"]
        assert failed == [
            {
                "channel": "slack",
                "kind": "post",
                "target": "#alerts-critical",
                "outbox_id": dead[0]["id"],
                "error": dead[0]["last_error"],
            }
        ]

        app = app_for(pd, slack, database_url, credentials=True)
        async with AsyncTestClient(app=app) as client:
            await wait_until_ready(app)
            page = await client.get(f"/api/v1/notifications?incident_id={result.incident.id}", headers=READER)
            text = page.text
            assert ROUTING_KEY not in text
            assert SLACK_TOKEN not in text
            assert {i["status"] for i in page.json()["items"]} == {"sent", "dead"}
            detail = (await client.get(f"/api/v1/incidents/{result.incident.id}", headers=READER)).json()
            trail = detail["extras"]["notifications"]
            assert [(n["channel"], n["status"]) for n in trail][:1] == [("pagerduty", "sent")]
            assert (
                await client.post(f"/api/v1/notifications/{dead[0]['id']}/retry", headers=READER)
            ).status_code == 403
            retried = await client.post(f"/api/v1/notifications/{dead[0]['id']}/retry", headers=WRITER)
            assert retried.status_code == 200
            assert retried.json()["status"] == "pending"
            sent_id = next(i["id"] for i in page.json()["items"] if i["status"] == "sent")
            assert (
                await client.post(f"/api/v1/notifications/{sent_id}/retry", headers=WRITER)
            ).status_code == 409
            assert (
                await client.post("/api/v1/notifications/999999/retry", headers=WRITER)
            ).status_code == 404
    finally:
        await slack.stop()

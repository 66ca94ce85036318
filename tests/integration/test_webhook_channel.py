"""Outgoing webhooks: signed JSON POSTs of incident events, verified by a receiver written here.

The verifier below is deliberately independent of service/notifications/channels/webhook: it
follows only the README's description (HMAC-SHA256 over "<timestamp>.<raw body>", hex, "v1=").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from notification_harness import (
    build_notifications,
    deliver_until,
    notification_settings,
    outbox,
    running_fakes,
)

from service.adapters.postgres.database import Database
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import Escalated
from service.domain.incidents import Action, Actor
from service.domain.severity import Severity

SECRET = "whsec-0123456789-abcdef"
RULES = Actor(name="rules", source="rules")
BOB = Actor(name="bob", source="api")


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float, tolerance: float = 300) -> bool:
    """What a receiver does with our documented headers."""
    timestamp = headers.get("X-Incidentd-Timestamp", "")
    signature = headers.get("X-Incidentd-Signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance or not signature.startswith("v1="):
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.removeprefix("v1="))


@dataclass
class Receiver:
    answers: list[int] = field(default_factory=list)  # statuses to answer, in order; then 200
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((dict(request.headers), await request.read()))
        status = self.answers.pop(0) if self.answers else 200
        return web.Response(status=status, text="ok" if status < 300 else "no", headers={"Retry-After": "0"})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    found.url = f"http://127.0.0.1:{port}/hook"
    yield found
    await runner.cleanup()


async def _escalate(incidents: Any, incident_id: int) -> None:
    told = Escalated(level=1, level_name="on-call", reason="declared", targets={"webhook": ["ops-bot"]})
    await incidents.record(
        incident_id, EventKind.ESCALATED, Actor(name="escalation", source="system"), told.as_data()
    )


async def test_incident_events_are_posted_signed_and_verify(
    db: Database, receiver: Receiver, tmp_path: Path
) -> None:
    secret_file = tmp_path / "ops-bot.secret"
    secret_file.write_text(SECRET + "\n")
    env = {
        "INCIDENTD_WEBHOOK_OPS_BOT_URL": receiver.url,
        "INCIDENTD_WEBHOOK_OPS_BOT_SECRET_FILE": str(secret_file),
    }
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(db, notification_settings(pd, slack), env=env)
        declared = await incidents.declare(
            title="Queue depth 9000", severity=Severity.P2, actor=RULES, dedup_key="q"
        )
        await _escalate(incidents, declared.incident.id)
        await deliver_until([sender], lambda: len(receiver.got) >= 1)
        await incidents.act(declared.incident.id, Action.RESOLVE, BOB, note="drained")
        await deliver_until([sender], lambda: len(receiver.got) >= 2)
    for headers, body in receiver.got:
        assert headers["Content-Type"] == "application/json"
        assert verify(SECRET, headers, body, now=time.time())
        assert not verify("another-secret", headers, body, now=time.time())
        assert not verify(SECRET, headers, body + b" ", now=time.time()), "a changed body must not verify"
        assert not verify(SECRET, headers, body, now=time.time() + 3600), "an old signature is a replay"
    first = json.loads(receiver.got[0][1])
    second = json.loads(receiver.got[1][1])
    assert first["version"] == 1
    assert first["incident"]["human_id"] == "INC-1"
    assert [e["kind"] for e in first["events"]] == ["escalated"]
    assert [e["kind"] for e in second["events"]] == ["resolved"]
    assert second["incident"]["status"] == "resolved"
    assert SECRET not in json.dumps([r["last_error"] for r in await outbox(db)])


async def test_server_errors_are_retried_and_refusals_are_dead_letters(
    db: Database, receiver: Receiver
) -> None:
    env = {"INCIDENTD_WEBHOOK_OPS_BOT_URL": receiver.url, "INCIDENTD_WEBHOOK_OPS_BOT_SECRET": SECRET}
    receiver.answers = [503, 500]
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(db, notification_settings(pd, slack), env=env)
        declared = await incidents.declare(title="retry me", severity=Severity.P3, actor=RULES, dedup_key="r")
        await _escalate(incidents, declared.incident.id)
        await deliver_until([sender], lambda: len(receiver.got) >= 3)
        [row] = await outbox(db, channel="webhook")
        assert row["status"] == "sent"
        assert row["attempts"] == 2
        deliveries = {h["X-Incidentd-Delivery"] for h, _ in receiver.got}
        assert deliveries == {str(row["id"])}, "every retry names the same delivery"
        receiver.answers = [400]
        await incidents.act(declared.incident.id, Action.ACKNOWLEDGE, BOB)
        await deliver_until([sender], lambda: len(receiver.got) >= 4)
        await sender.drain()
        dead = await outbox(db, channel="webhook", status="dead")
    assert len(dead) == 1
    assert "HTTP 400" in dead[0]["last_error"]
    assert receiver.url not in dead[0]["last_error"]


async def test_a_webhook_without_a_url_is_held(db: Database) -> None:
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(db, notification_settings(pd, slack), env={})
        declared = await incidents.declare(title="held", severity=Severity.P3, actor=RULES, dedup_key="h")
        await _escalate(incidents, declared.incident.id)
        await sender.drain()
    [row] = await outbox(db, channel="webhook")
    assert row["status"] == "held"
    assert "INCIDENTD_WEBHOOK_OPS_BOT_URL" in row["last_error"]

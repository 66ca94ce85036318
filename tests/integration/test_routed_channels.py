"""Email and webhook targets routed by rules/policy/notifications.yaml `routes`, not by escalation.

End to end: a real SMTP server (aiosmtpd) and a local HTTP receiver; the webhook signature is
checked by the independent verifier of test_webhook_channel.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from notification_harness import (
    ROOT,
    build_notifications,
    deliver_until,
    notification_settings,
    outbox,
    running_fakes,
)
from test_webhook_channel import Receiver, receiver, verify

from service.adapters.postgres.database import Database
from service.config.fields import PolicyError
from service.config.notification_policy_files import load_notification_policy
from service.domain.incidents import Action, Actor
from service.domain.severity import Severity
from service.notifications.channels.registry import check_target
from service.testing.smtp_server import SmtpServer

__all__ = ["receiver"]  # the fixture, used by name below

RULES = Actor(name="rules", source="rules")
ALICE = Actor(name="alice", source="api")
SECRET = "whsec-routes-0123456789"
ROUTES = """routes:
  - severities: [P0, P1]
    email: [oncall@example.com]
  - match: {service: payments}
    webhook: [payments-bot]
    email: [payments@example.com]
"""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def _policy_file(tmp_path: Path, routes: str) -> Path:
    path = tmp_path / "notifications.yaml"
    path.write_text((ROOT / "rules" / "policy" / "notifications.yaml").read_text() + routes)
    return path


async def test_routes_send_email_and_webhooks_by_severity_and_service(
    db: Database, smtp: SmtpServer, receiver: Receiver, tmp_path: Path
) -> None:
    policy = load_notification_policy(_policy_file(tmp_path, ROUTES), check_target=check_target)
    env = {
        "INCIDENTD_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
        "INCIDENTD_EMAIL_FROM": "incidentd@example.com",
        "INCIDENTD_WEBHOOK_PAYMENTS_BOT_URL": receiver.url,
        "INCIDENTD_WEBHOOK_PAYMENTS_BOT_SECRET": SECRET,
    }
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(
            db, notification_settings(pd, slack), env=env, policy=policy
        )
        await incidents.declare(
            title="Disk 80%", severity=Severity.P3, actor=RULES, dedup_key="disk", labels={"service": "web"}
        )
        paid = await incidents.declare(
            title="Card auth failing",
            severity=Severity.P1,
            actor=RULES,
            dedup_key="cards",
            labels={"service": "payments"},
        )
        await deliver_until([sender], lambda: len(smtp.received) >= 2 and len(receiver.got) >= 1)
        await incidents.act(paid.incident.id, Action.ACKNOWLEDGE, ALICE, note="on it")
        await deliver_until([sender], lambda: len(smtp.received) >= 4 and len(receiver.got) >= 2)
        rows = await outbox(db)
    routed = {
        (r["incident_id"], r["channel"], r["target"]) for r in rows if r["channel"] in ("email", "webhook")
    }
    assert routed == {
        (paid.incident.id, "email", "oncall@example.com"),
        (paid.incident.id, "email", "payments@example.com"),
        (paid.incident.id, "webhook", "payments-bot"),
    }, "the P3 web incident matches no route"
    assert {r["status"] for r in rows if r["channel"] in ("email", "webhook")} == {"sent"}
    by_rcpt: dict[str, list[str]] = {}
    for mail in smtp.received:
        for rcpt in mail.recipients:
            by_rcpt.setdefault(rcpt, []).append(mail.message["Subject"])
    assert by_rcpt == {
        "oncall@example.com": ["[P1] INC-2: Card auth failing"] * 2,
        "payments@example.com": ["[P1] INC-2: Card auth failing"] * 2,
    }
    for headers, body in receiver.got:
        assert verify(SECRET, headers, body, now=time.time())
    first, second = (json.loads(body) for _, body in receiver.got)
    assert [e["kind"] for e in first["events"]] == ["declared"]
    assert [e["kind"] for e in second["events"]] == ["acknowledged"]


async def test_a_raise_into_a_routed_severity_tells_the_route_from_then_on(
    db: Database, smtp: SmtpServer, tmp_path: Path
) -> None:
    policy = load_notification_policy(_policy_file(tmp_path, ROUTES), check_target=check_target)
    env = {"INCIDENTD_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}", "INCIDENTD_EMAIL_FROM": "i@example.com"}
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(
            db, notification_settings(pd, slack), env=env, policy=policy
        )
        declared = await incidents.declare(title="Latency", severity=Severity.P2, actor=RULES, dedup_key="l")
        await incidents.change_severity(declared.incident.id, Severity.P0, ALICE)
        await deliver_until([sender], lambda: len(smtp.received) >= 1)
    assert [m.recipients for m in smtp.received] == [["oncall@example.com"]]
    text = smtp.received[0].message.get_body(preferencelist=("plain",))
    assert text is not None
    assert "P0" in text.get_content()


def test_route_targets_are_judged_by_their_plug_ins_with_file_and_line(tmp_path: Path) -> None:
    routes = """routes:
  - severities: [P0, P9]
    email: [oncall@example.com, "not an address"]
    webhook: ["Ops Bot"]
  - match: {service: payments}
  - severities: [P1]
    slack: ["#x"]
"""
    path = _policy_file(tmp_path, routes)
    start = len((ROOT / "rules" / "policy" / "notifications.yaml").read_text().splitlines())
    with pytest.raises(PolicyError) as refused:
        load_notification_policy(path, check_target=check_target)
    got = [(p.line, p.field, p.message) for p in refused.value.problems]
    assert (start + 2, "routes[0].severities[1]", got[0][2]) == got[0]
    assert (start + 3, "routes[0].email[1]", "'not an address' is not an email address") in got
    assert any(line == start + 4 and field == "routes[0].webhook[0]" for line, field, _ in got)
    assert (start + 5, "routes[1]", "a route needs targets, e.g. email: [oncall@example.com]") in got
    assert (start + 7, "routes[2].slack", "slack is routed by its own section of this file") in got

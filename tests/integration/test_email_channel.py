"""Email end to end against a real local SMTP server (aiosmtpd): parts, threading, auth, refusals."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import require_tool
from notification_harness import (
    build_notifications,
    deliver_until,
    notification_settings,
    outbox,
    running_fakes,
)

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import Escalated
from service.domain.incidents import Action, Actor
from service.domain.report_schedule import DailySchedule, ReportPolicy
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.notifications.channels.email.outbox import enqueue_email
from service.reports.daily_run import DailySummaries, outbox_email
from service.testing.smtp_server import SmtpServer

RULES = Actor(name="rules", source="rules")
ALICE = Actor(name="alice", source="api")
PASSWORD = "s3cret-smtp-pass"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(users={"incidentd": PASSWORD})
    server.start()
    yield server
    server.stop()


def _env(server: SmtpServer) -> dict[str, str]:
    return {
        "INCIDENTD_SMTP_URL": f"smtp://incidentd:{PASSWORD}@127.0.0.1:{server.port}",
        "INCIDENTD_EMAIL_FROM": "incidentd <incidentd@example.com>",
    }


async def _escalate_to(incidents: IncidentService, incident_id: int, address: str) -> None:
    told = Escalated(v=0, level=1, level_name="on-call", reason="declared", targets={"email": [address]})
    await incidents.record(
        incident_id, EventKind.ESCALATED, Actor(name="escalation", source="system"), told.as_data()
    )


async def test_any_email_queued_through_the_outbox_arrives_with_text_and_clean_html(
    db: Database, smtp: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_fakes() as (pd, slack):
        _, sender, _ = build_notifications(db, notification_settings(pd, slack), env=_env(smtp))
        async with db.transaction() as conn:
            await enqueue_email(
                conn,
                to="ops@example.com",
                subject="Daily summary: 3 incidents",
                text="3 incidents in the last 24 hours.\n",
                html="<p>3 <b>incidents</b></p><script>alert(1)</script><a href='javascript:x()'>x</a>",
                now=datetime.now(UTC),
            )
        await deliver_until([sender], lambda: bool(smtp.received))
    mail = smtp.received[0]
    assert mail.recipients == ["ops@example.com"]
    assert mail.login == "incidentd"
    assert not mail.encrypted  # plain smtp:// to a server that offers no TLS
    assert mail.message["Subject"] == "Daily summary: 3 incidents"
    assert mail.message["From"] == "incidentd <incidentd@example.com>"
    text = mail.message.get_body(preferencelist=("plain",))
    markup = mail.message.get_body(preferencelist=("html",))
    assert text is not None
    assert markup is not None
    assert text.get_content().replace("\r\n", "\n") == "3 incidents in the last 24 hours.\n"
    html = markup.get_content()
    assert "<b>incidents</b>" in html
    assert "<script" not in html
    assert "javascript:" not in html
    assert [r["status"] for r in await outbox(db, channel="email")] == ["sent"]
    logged = capsys.readouterr()
    assert PASSWORD not in logged.out + logged.err


async def test_an_incident_s_mails_to_an_escalation_target_form_one_thread(
    db: Database, smtp: SmtpServer
) -> None:
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(db, notification_settings(pd, slack), env=_env(smtp))
        declared = await incidents.declare(
            title="Checkout <errors> & timeouts", severity=Severity.P2, actor=RULES, dedup_key="checkout"
        )
        incident_id = declared.incident.id
        await _escalate_to(incidents, incident_id, "oncall@example.com")
        await deliver_until([sender], lambda: len(smtp.received) >= 1)
        await incidents.act(incident_id, Action.ACKNOWLEDGE, ALICE, note="looking")
        await deliver_until([sender], lambda: len(smtp.received) >= 2)
        timeline = (await incidents.get(incident_id))[1]
    first, second = (r.message for r in smtp.received)
    assert first["Subject"] == second["Subject"] == "[P2] INC-1: Checkout <errors> & timeouts"
    assert first["In-Reply-To"] is None
    assert second["In-Reply-To"] == first["Message-ID"]
    assert second["References"] == first["Message-ID"]
    first_text = first.get_body(preferencelist=("plain",))
    second_text = second.get_body(preferencelist=("plain",))
    first_html = first.get_body(preferencelist=("html",))
    assert first_text is not None
    assert second_text is not None
    assert first_html is not None
    assert "escalated to level 1 (on-call)" in first_text.get_content()
    assert "acknowledged: looking (by alice)" in second_text.get_content()
    assert "Checkout &lt;errors&gt; &amp; timeouts" in first_html.get_content()
    assert "http://incidentd.test/incidents/1" in first_html.get_content()
    receipts = [e.data for e in timeline if e.kind == "notification_sent" and e.data["channel"] == "email"]
    assert len(receipts) == 2


async def test_a_temporary_refusal_is_retried_and_a_permanent_one_is_a_dead_letter(
    db: Database, smtp: SmtpServer
) -> None:
    smtp.refuse["busy@example.com"] = "451 4.3.0 mailbox busy, try later"
    smtp.refuse["gone@example.com"] = "550 5.1.1 no such user"
    async with running_fakes() as (pd, slack):
        _, sender, _ = build_notifications(db, notification_settings(pd, slack), env=_env(smtp))
        async with db.transaction() as conn:
            for to in ("busy@example.com", "gone@example.com"):
                await enqueue_email(conn, to=to, subject="hi", text="hello", now=datetime.now(UTC))

        async def rows() -> dict[str, dict[str, object]]:
            return {str(r["target"]): r for r in await outbox(db, channel="email")}

        for _ in range(100):
            await sender.drain()
            found = await rows()
            if (
                found["gone@example.com"]["status"] == "dead"
                and int(str(found["busy@example.com"]["attempts"])) >= 2
            ):
                break
            await asyncio.sleep(0.05)
        found = await rows()
        assert found["gone@example.com"]["status"] == "dead"
        assert "550" in str(found["gone@example.com"]["last_error"])
        assert found["busy@example.com"]["status"] == "pending"
        assert "451" in str(found["busy@example.com"]["last_error"])
        del smtp.refuse["busy@example.com"]  # the mailbox is free again
        await deliver_until(
            [sender], lambda: any(r.recipients == ["busy@example.com"] for r in smtp.received)
        )
    assert (await rows())["busy@example.com"]["status"] == "sent"
    assert all(r.recipients != ["gone@example.com"] for r in smtp.received)


async def test_without_smtp_settings_email_is_held_not_lost(db: Database) -> None:
    async with running_fakes() as (pd, slack):
        _, sender, _ = build_notifications(db, notification_settings(pd, slack), env={})
        async with db.transaction() as conn:
            await enqueue_email(conn, to="ops@example.com", subject="s", text="t", now=datetime.now(UTC))
        await sender.drain()
    [row] = await outbox(db, channel="email")
    assert row["status"] == "held"
    assert "INCIDENTD_SMTP_URL" in row["last_error"]


async def test_a_wrong_password_is_refused_without_showing_it(db: Database, smtp: SmtpServer) -> None:
    env = _env(smtp) | {"INCIDENTD_SMTP_URL": f"smtp://incidentd:wrong-{PASSWORD}@127.0.0.1:{smtp.port}"}
    async with running_fakes() as (pd, slack):
        _, sender, _ = build_notifications(db, notification_settings(pd, slack), env=env)
        async with db.transaction() as conn:
            await enqueue_email(conn, to="ops@example.com", subject="s", text="t", now=datetime.now(UTC))
        await sender.drain()
    [row] = await outbox(db, channel="email")
    assert row["status"] == "dead"
    assert "535" in row["last_error"]
    assert PASSWORD not in row["last_error"]
    assert not smtp.received


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1 that this test's client trusts (SSL_CERT_FILE)."""
    openssl = require_tool("openssl", "openssl")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("scheme", ["starttls", "smtps"])
async def test_starttls_and_implicit_tls(db: Database, certificate: ssl.SSLContext, scheme: str) -> None:
    server = SmtpServer(users={"incidentd": PASSWORD}, tls=certificate, implicit_tls=scheme == "smtps")
    server.start()
    try:
        url = (
            f"smtp://incidentd:{PASSWORD}@127.0.0.1:{server.port}?starttls=true"
            if scheme == "starttls"
            else f"smtps://incidentd:{PASSWORD}@127.0.0.1:{server.port}"
        )
        env = {"INCIDENTD_SMTP_URL": url, "INCIDENTD_EMAIL_FROM": "incidentd@example.com"}
        async with running_fakes() as (pd, slack):
            _, sender, _ = build_notifications(db, notification_settings(pd, slack), env=env)
            async with db.transaction() as conn:
                await enqueue_email(
                    conn, to="ops@example.com", subject="tls", text="t", now=datetime.now(UTC)
                )
            await deliver_until([sender], lambda: bool(server.received))
    finally:
        server.stop()
    assert server.received[0].encrypted
    assert server.received[0].login == "incidentd"


async def test_the_daily_summary_reaches_each_recipient_once_by_smtp(db: Database, smtp: SmtpServer) -> None:
    policy = ReportPolicy(
        daily=DailySchedule(recipients=("ops@example.com", "leads@example.com"), slack_channels=("#alerts",))
    )
    clock = FrozenClock(datetime(2026, 12, 1, 7, 59, 59, tzinfo=UTC))  # running before the slot
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(
            db, notification_settings(pd, slack), env=_env(smtp), clock=clock
        )
        await incidents.declare(title="Checkout <down>", severity=Severity.P2, actor=ALICE)
        await sender.drain()
        replicas = [
            DailySummaries(db, policy, None, "http://incidentd.test", clock, name, email=outbox_email)
            for name in ("r1", "r2")
        ]
        clock.advance(timedelta(seconds=2))
        outcomes = [await r.run_if_due() for r in replicas]
        await deliver_until([sender], lambda: len(smtp.received) >= 2)
        await sender.drain()
    assert [o["email"] if o else None for o in outcomes] == [
        2,
        None,
    ]  # the second replica finds the slot taken
    assert sorted(r for mail in smtp.received for r in mail.recipients) == [
        "leads@example.com",
        "ops@example.com",
    ]
    mail = smtp.received[0]
    assert mail.message["Subject"].startswith("Incident summary")
    text = mail.message.get_body(preferencelist=("plain",))
    markup = mail.message.get_body(preferencelist=("html",))
    assert text is not None
    assert markup is not None
    assert "Checkout <down>" in text.get_content()
    assert "Checkout &lt;down&gt;" in markup.get_content()
    assert [r["status"] for r in await outbox(db, channel="email")] == ["sent", "sent"]

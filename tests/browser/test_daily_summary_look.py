"""The daily summary as people see it: the Slack digest (through the outbox to the Slack fake) and the
HTML email, rendered in Chromium and saved as PNGs (INCIDENTD_SCREENSHOTS) for a person to look at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from notification_harness import build_notifications, deliver_until, notification_settings, running_fakes

from browser.console_harness import SHOTS
from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.domain.escalation_policy import RcaTimers
from service.domain.incidents import Action, Actor
from service.domain.report_schedule import DailySchedule, ReportPolicy
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.notifications.sender import Sender
from service.rca.action_items import ActionItems
from service.reports.daily_run import DailySummaries
from service.reports.email_parts import html_part
from service.reports.summary_store import action_item_followups
from service.testing.fake_slack import SlackMessage
from service.testing.slack_preview import render

SCHEDULED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
URL = "http://incidentd.test"
HOSTILE = "DB <down> & *bold* <!channel>"
SHOWN = "DB <down> & \u2217bold\u2217 <!channel>"
TIMERS = RcaTimers(
    severities=frozenset({Severity.P0, Severity.P1}),
    draft_within=timedelta(hours=24),
    final_within=timedelta(hours=48),
    remind_before=(),
)


async def overnight(incidents: IncidentService, sender: Sender, clock: FrozenClock) -> None:
    people = Actor("alice", "slack")
    clock.now = SCHEDULED - timedelta(hours=40)
    old = await incidents.declare(title="Payments p95 latency 2.1s", severity=Severity.P1, actor=people)
    clock.advance(timedelta(minutes=6))
    await incidents.act(old.incident.id, Action.ACKNOWLEDGE, people)
    clock.advance(timedelta(hours=2))
    await incidents.act(old.incident.id, Action.RESOLVE, people)  # its RCA draft is now overdue
    await sender.drain()
    script = [
        ("Checkout error rate 12%", Severity.P0, 4, 55, {"service": "checkout"}),
        ("Queue depth above 10,000", Severity.P1, 9, None, {"service": "orders"}),
        (HOSTILE, Severity.P2, None, None, {"service": "db"}),
        ("Disk 85% on db-2", Severity.P3, 30, 120, {"service": "db"}),
    ]
    for hours_ago, (title, severity, ack, fix, labels) in zip((20, 11, 6, 3), script, strict=True):
        clock.now = SCHEDULED - timedelta(hours=hours_ago)
        details = {"rule": title.split()[0].lower() + "_rule"}
        opened = await incidents.declare(
            title=title, severity=severity, actor=Actor("rules", "rules"), labels=labels, details=details
        )
        if ack is not None:
            clock.advance(timedelta(minutes=ack))
            await incidents.act(opened.incident.id, Action.ACKNOWLEDGE, people)
        if fix is not None:
            clock.advance(timedelta(minutes=fix))
            await incidents.act(opened.incident.id, Action.RESOLVE, people)
        await sender.drain()  # pages go out (and are receipted) as it happens
    items = ActionItems(incidents.db, incidents, clock)
    day = SCHEDULED.date()
    for title, owner, due_on in (
        ("Add an index on payments.created_at", "bob", day - timedelta(days=2)),
        (HOSTILE, "", day),
        ("Not due yet", "carol", day + timedelta(days=3)),
    ):
        await items.create(old.incident.id, title=title, actor=people, owner=owner, due_on=due_on)
    clock.now = SCHEDULED


async def shoot(browser: Any, html: str, name: str) -> str:
    page = await browser.new_page(viewport={"width": 900, "height": 800})
    await page.set_content(html)
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    text: str = await page.inner_text("body")
    await page.close()
    return text


async def test_digest_and_email_as_people_see_them(db: Database, browser: Any) -> None:
    clock = FrozenClock(SCHEDULED)
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(db, notification_settings(pd, slack), clock=clock)
        await overnight(incidents, sender, clock)
        policy = ReportPolicy(daily=DailySchedule(slack_channels=("#alerts",)))
        runs = DailySummaries(db, policy, TIMERS, URL, clock, "look", followups=action_item_followups)
        assert await runs.run_if_due() is not None

        def digests() -> list[SlackMessage]:
            return [m for m in slack.top_level("#alerts") if m.blocks and m.blocks[0]["type"] == "header"]

        await deliver_until([sender], lambda: bool(digests()))
        digest = digests()
        assert len(digest) == 1
        slack.messages = {m.ts: m for m in digest}  # the preview shows the digest alone
        seen = await shoot(browser, render(slack), "daily-summary-slack")
        assert "Incident summary for 2026-12-01" in seen
        assert SHOWN in seen  # literal: no mention, and look-alike stars instead of bold
        assert "INC-1" in seen  # the overdue RCA
        assert "draft overdue" in seen
        assert "AI-1 Add an index on payments.created_at: bob, due 2026-11-29, overdue by 2 days" in seen
        assert f"AI-2 {SHOWN}: no owner, due today (2026-12-01)" in seen
        assert "Not due yet" not in seen
        async with db.connection() as conn:
            summary = await runs.summary(conn, SCHEDULED)
        read = await shoot(browser, html_part(summary), "daily-summary-email")
        assert HOSTILE in read
        assert "Pages sent: 2" in read  # the P0 and the P1 of the window
        assert "held by alice" in read
        assert "AI-1 Add an index on payments.created_at" in read
        assert f"AI-2 {HOSTILE}" in read
        assert "no follow-up data" not in read

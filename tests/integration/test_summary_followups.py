"""The daily summary's "follow-ups due" lists the real action items, in the app as production builds it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import msgspec
from litestar.testing import AsyncTestClient

from service.adapters.postgres.database import Database
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.dependencies import STATE_NAME
from service.domain.action_items import ItemStatus
from service.domain.incidents import Action, Actor
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.rca.action_items import ActionItems
from service.reports.daily_run import DAILY_SUMMARIES
from service.reports.email_parts import text_part
from service.reports.slack_digest import digest_blocks
from service.reports.summary_store import action_item_followups
from service.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
URL = "http://incidentd.test"
ALICE = Actor("alice", "slack")


async def items_of_a_week(db: Database, clock: FrozenClock) -> dict[str, str]:
    """Overdue, due today, due tomorrow, done and dropped items on two incidents; their refs by title."""
    incidents = IncidentService(db, clock=clock)
    items = ActionItems(db, incidents, clock)
    clock.now = END - timedelta(days=5)
    first = await incidents.declare(title="Checkout errors", severity=Severity.P1, actor=ALICE)
    second = await incidents.declare(title="Queue lag", severity=Severity.P2, actor=ALICE)
    await incidents.act(first.incident.id, Action.RESOLVE, ALICE)
    day = END.date()
    plan: list[tuple[int, str, str, date]] = [
        (first.incident.id, "Add an index", "bob", day - timedelta(days=2)),
        (first.incident.id, "Write the runbook", "", day),
        (second.incident.id, "Alert on lag", "carol", day + timedelta(days=1)),
        (second.incident.id, "Already done", "dave", day - timedelta(days=1)),
        (second.incident.id, "Dropped", "erin", day - timedelta(days=1)),
    ]
    refs = {}
    for incident_id, title, owner, due_on in plan:
        item = await items.create(incident_id, title=title, actor=ALICE, owner=owner, due_on=due_on)
        refs[title] = item.ref
    listed = {i.title: i.id for i in await items.listing([ItemStatus.OPEN])}
    await items.update(listed["Already done"], ALICE, status=ItemStatus.DONE)
    await items.update(listed["Dropped"], ALICE, status=ItemStatus.DROPPED)
    clock.now = END
    return refs


async def test_source_reads_open_due_and_overdue_items(db: Database) -> None:
    refs = await items_of_a_week(db, FrozenClock(END))
    async with db.connection() as conn:
        due = await action_item_followups(conn, END)
    assert [(f.ref, f.owner, f.due_on, f.text) for f in due] == [
        (refs["Add an index"], "bob", END.date() - timedelta(days=2), "Add an index"),
        (refs["Write the runbook"], "", END.date(), "Write the runbook"),
    ]


async def test_the_production_app_binds_the_action_items(db: Database, database_url: str) -> None:
    clock = FrozenClock(END)
    refs = await items_of_a_week(db, clock)
    settings = msgspec.structs.replace(
        load_settings({"INCIDENTD_PUBLIC_URL": URL}),
        rules_dir=ROOT / "rules",
        templates_dir=ROOT / "incident_templates",
        workers=False,
    )
    app = build_app(settings, database_url, clock=clock)  # every default component
    async with AsyncTestClient(app=app):
        await wait_until_ready(app)
        summaries = app.state[STATE_NAME].get(DAILY_SUMMARIES)
        async with db.connection() as conn:
            summary = await summaries.summary(conn, END)
    assert summary.followups_note is None
    lines = [(f.human_id, f.title, f.detail, f.url) for f in summary.followups]
    assert lines == [
        ("INC-1", f"{refs['Add an index']} Add an index", "bob, due 2026-11-29, overdue by 2 days",
         f"{URL}/incidents/1#live-action-items"),
        ("INC-1", f"{refs['Write the runbook']} Write the runbook", "no owner, due today (2026-12-01)",
         f"{URL}/incidents/1#live-action-items"),
    ]  # fmt: skip
    text = text_part(summary)
    assert "no follow-up data" not in text
    assert f"{refs['Add an index']} Add an index: bob, due 2026-11-29, overdue by 2 days" in text
    _, blocks = digest_blocks(summary, URL)
    section = next(
        b["text"]["text"] for b in blocks if b.get("text", {}).get("text", "").startswith("*Follow-ups")
    )
    assert f"<{URL}/incidents/1#live-action-items|INC-1>" in section
    for absent in ("Alert on lag", "Already done", "Dropped"):
        assert absent not in section

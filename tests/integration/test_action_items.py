"""Action items on a real PostgreSQL: the API, once-only reminders through the outbox to the fake
Slack with the real slack_sdk client, and PagerDuty told of a new title with the real client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from notification_harness import (
    BREACH,
    ROOT,
    build_notifications,
    deliver_until,
    notification_settings,
    running_fakes,
)
from test_api import READER, WRITER, api_settings, declare

from service.adapters.postgres.database import Database
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.config.notification_policy_files import load_notification_policy
from service.domain.action_items import ItemStatus
from service.domain.incidents import Action, Actor
from service.domain.notification_policy import SlackRoute
from service.domain.severity import Severity
from service.rca import action_items_store
from service.rca.action_items import ActionItems
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack

RULES = Actor(name="rules", source="rules")
ALICE = Actor(name="alice", source="api")
NOON = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakePagerDuty, FakeSlack]]:
    async with running_fakes() as pair:
        yield pair


@pytest.fixture
async def client(db: Database, database_url: str) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = build_app(api_settings(), database_url)  # type: ignore[arg-type]
    async with AsyncTestClient(app=app) as test_client:
        await wait_until_ready(app)
        yield test_client


async def test_api_creates_lists_and_updates_items(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    incident: Any = (await declare(client, title="Checkout errors"))["incident"]
    base = f"/api/v1/incidents/{incident['id']}/action-items"
    created = await client.post(
        base,
        json={"title": "Add an index", "owner": "@bob", "due_on": "2026-12-15", "link": "https://x.test/1"},
        headers=WRITER,
    )
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["ref"], item["status"], item["due_on"], item["owner"]) == (
        "AI-1",
        "open",
        "2026-12-15",
        "@bob",
    )
    defaulted = (await client.post(base, json={"title": "Write the runbook"}, headers=WRITER)).json()
    assert defaulted["due_on"] > "2026-01-01"
    assert defaulted["owner"] == ""

    listed = (await client.get(base, headers=READER)).json()["items"]
    assert [i["title"] for i in listed] == ["Add an index", "Write the runbook"]
    done = await client.patch(f"{base}/{item['id']}", json={"status": "done"}, headers=WRITER)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    assert done.json()["closed_at"] is not None
    open_only = (await client.get("/api/v1/action-items?status=open", headers=READER)).json()["items"]
    assert [i["ref"] for i in open_only] == [defaulted["ref"]]

    detail = (await client.get(f"/api/v1/incidents/{incident['id']}", headers=READER)).json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.count("action_item_added") == 2
    assert kinds.count("action_item_updated") == 1

    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/incidents/{incident_id}/action-items" in schema["paths"]
    assert "/api/v1/incidents/{incident_id}/action-items/{item_id}" in schema["paths"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x", "due_on": "15/12/2026"}, "due_on"),
        ({"title": "x", "link": "javascript:alert(1)"}, "link"),
        ({"title": "   "}, "title"),
        ({"title": "x", "colour": "red"}, "colour"),
    ],
)
async def test_bad_fields_are_400s_naming_them(
    client: AsyncTestClient,  # type: ignore[type-arg]
    body: dict[str, object],
    field: str,
) -> None:
    incident: Any = (await declare(client, title="Checkout errors"))["incident"]
    response = await client.post(
        f"/api/v1/incidents/{incident['id']}/action-items", json=body, headers=WRITER
    )
    assert response.status_code == 400, response.text
    assert field in response.text
    bad_status = await client.patch(
        f"/api/v1/incidents/{incident['id']}/action-items/1", json={"status": "finished"}, headers=WRITER
    )
    assert bad_status.status_code == 400
    assert "status" in bad_status.text
    missing = await client.get("/api/v1/incidents/999/action-items", headers=READER)
    assert missing.status_code == 404


async def test_reminders_reach_the_thread_once_across_replicas(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    clock = FrozenClock(NOON - timedelta(days=2))
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack), clock=clock)
    declared = await incidents.declare(
        title="Checkout errors", severity=Severity.P1, actor=RULES, dedup_key="c", details=BREACH
    )
    incident = declared.incident
    await deliver_until([sender], lambda: len(slack.calls("chat.postMessage")) == 2)
    replicas = [ActionItems(db, incidents, clock) for _ in range(3)]
    await replicas[0].create(
        incident.id, title="Add an index <!channel>", owner="<@U0BOB1>", due_on=NOON.date(), actor=ALICE
    )
    await replicas[0].create(incident.id, title="Later", due_on=NOON.date() + timedelta(days=9), actor=ALICE)

    assert await replicas[0].remind_once() == 0, "nothing is due two days early"
    clock.now = NOON
    counts = await asyncio.gather(*(r.remind_once() for r in replicas))
    assert sorted(counts) == [0, 0, 1]
    assert await replicas[1].remind_once() == 0
    await deliver_until([sender], lambda: len(_reminders(slack)) == 2)  # one per channel the incident is in

    texts = _reminders(slack)
    assert all("is due today" in t and "Owner: &lt;@U0BOB1&gt;" in t for t in texts)
    assert all("<!channel>" not in t and "&lt;!channel&gt;" in t for t in texts)
    assert {m.thread_ts for m in slack.messages.values() if "Follow-up" in m.text} <= {
        m.ts for m in slack.messages.values() if m.thread_ts is None
    }
    async with db.connection() as conn:
        due = await action_items_store.due_action_items(conn, NOON)
    assert [i.title for i in due] == ["Add an index <!channel>"]

    clock.now = NOON + timedelta(days=1)
    assert sum(await asyncio.gather(*(r.remind_once() for r in replicas))) == 1
    await deliver_until([sender], lambda: len(_reminders(slack)) == 4)
    assert sum("is overdue" in t for t in _reminders(slack)) == 2
    item = (await replicas[0].for_incident(incident.id))[0]
    await replicas[0].update(item.id, ALICE, status=ItemStatus.DONE)
    clock.now = NOON + timedelta(days=5)
    assert await replicas[0].remind_once() == 0, "a closed item is never reminded"
    _, timeline = await incidents.get(incident.id)
    assert [e.data["stage"] for e in timeline if e.kind == "action_item_due"] == ["due", "overdue"]


async def test_a_reminder_of_an_incident_slack_never_heard_of_goes_to_a_policy_channel(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    clock = FrozenClock(NOON)
    routed = load_notification_policy(ROOT / "rules" / "policy" / "notifications.yaml")  # P3 → #alerts
    critical_only = msgspec.structs.replace(
        routed, slack_routes=(SlackRoute("#alerts-critical", frozenset({Severity.P0, Severity.P1})),)
    )
    settings = notification_settings(pd, slack)
    incidents, sender, _ = build_notifications(db, settings, clock=clock, policy=critical_only)
    quiet = await incidents.declare(
        title="Slow <b>reports</b>", severity=Severity.P3, actor=RULES, dedup_key="q", details=BREACH
    )
    later = await incidents.declare(
        title="Cron lag", severity=Severity.P3, actor=RULES, dedup_key="l", details=BREACH
    )
    await sender.drain()
    assert slack.calls("chat.postMessage") == [], "no channel takes P3: Slack never heard of them"

    items = ActionItems(db, incidents, clock)
    await items.create(quiet.incident.id, title="Add a report timeout", owner="@bob", due_on=NOON.date(),
                       actor=ALICE)  # fmt: skip
    assert await items.remind_once() == 1
    await deliver_until([sender], lambda: len(_reminders(slack)) == 1)
    # The policy changed since: P3 goes to #alerts now, so the next reminder goes there (and only there).
    incidents, sender, _ = build_notifications(db, settings, clock=clock, policy=routed)
    items = ActionItems(db, incidents, clock)
    await items.create(later.incident.id, title="Alert on cron lag", due_on=NOON.date(), actor=ALICE)
    assert await items.remind_once() == 1
    await deliver_until([sender], lambda: len(_reminders(slack)) == 2)
    await sender.drain()

    fallback, severity_channel = [m for m in slack.messages.values() if "Follow-up" in m.text]
    assert len(slack.calls("chat.postMessage")) == 2, "a reminder each, and no incident message"
    assert (fallback.channel_id, fallback.thread_ts) == (slack.channel_id("#alerts-critical"), None)
    assert "is due today" in fallback.text
    assert "Add a report timeout" in fallback.text
    assert "Owner: @bob" in fallback.text
    quiet_id = quiet.incident.id
    assert f"<http://incidentd.test/incidents/{quiet_id}|INC-{quiet_id} Slow &lt;b&gt;reports&lt;/b&gt;>" in (
        fallback.text
    )
    assert (severity_channel.channel_id, severity_channel.thread_ts) == (slack.channel_id("#alerts"), None)
    assert "Alert on cron lag" in severity_channel.text
    assert "Owner: nobody yet" in severity_channel.text
    _, timeline = await incidents.get(quiet_id)
    assert [e.kind for e in timeline].count("action_item_due") == 1


async def test_a_reminder_reaches_the_thread_after_retention_deleted_the_sent_post(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    clock = FrozenClock(NOON - timedelta(days=40))
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack), clock=clock)
    declared = await incidents.declare(
        title="Checkout errors", severity=Severity.P2, actor=RULES, dedup_key="c", details=BREACH
    )
    await deliver_until([sender], lambda: len(slack.calls("chat.postMessage")) == 1)
    await db.execute("DELETE FROM notification_outbox")  # what retention does to sent rows after 30 days
    clock.now = NOON
    items = ActionItems(db, incidents, clock)
    await items.create(declared.incident.id, title="Add an index", due_on=NOON.date(), actor=ALICE)
    assert await items.remind_once() == 1
    await deliver_until([sender], lambda: len(_reminders(slack)) == 1)
    (post,) = slack.top_level("#alerts")
    (reply,) = [m for m in slack.messages.values() if "Follow-up" in m.text]
    assert reply.thread_ts == post.ts, "in the incident's thread, not a message of its own"


def _reminders(slack: FakeSlack) -> list[str]:
    return [m.text for m in slack.messages.values() if "Follow-up" in m.text]


async def test_a_new_title_retriggers_pagerduty_once_with_the_same_dedup_key(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack))
    declared = await incidents.declare(
        title="Error rate high on checkout", severity=Severity.P1, actor=RULES, dedup_key="c", details=BREACH
    )
    incident = declared.incident
    await deliver_until([sender], lambda: len(pd.events) == 1)

    async def retitle(title: str) -> None:
        async with incidents.transaction() as tx:
            await incidents.retitle_in(tx, incident.id, title, RULES)

    await retitle("Latency high on checkout")
    await retitle("Latency high on checkout")  # the same title again: no event, no page
    async with incidents.transaction() as tx:
        current = await incidents.find_in(tx, incident.id)
        assert current is not None
        await incidents.record_in(tx, current, "alert_level_changed", RULES, {"level": "critical"})
    await deliver_until([sender], lambda: len(pd.events) == 2)
    await sender.drain()
    await asyncio.sleep(0.1)
    await sender.drain()

    assert [e["event_action"] for e in pd.events] == ["trigger", "trigger"]
    assert {e["dedup_key"] for e in pd.events} == {"c"}
    assert "Latency high on checkout" in pd.events[1]["payload"]["summary"]
    assert "Error rate high" not in pd.events[1]["payload"]["summary"]

    await incidents.act(incident.id, Action.RESOLVE, ALICE)
    await deliver_until([sender], lambda: len(pd.events) == 3)
    await retitle("Anything")  # a resolved incident keeps its title and pages nobody
    await sender.drain()
    assert [e["event_action"] for e in pd.events] == ["trigger", "trigger", "resolve"]

"""Outbox delivery with the real pagerduty and slack_sdk clients against the fake servers over HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from notification_harness import (
    BREACH,
    ROUTING_KEY,
    build_notifications,
    deliver_until,
    notification_settings,
    outbox,
    running_fakes,
)

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.domain.incidents import Action, Actor
from service.domain.severity import Severity
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack

RULES = Actor(name="rules", source="rules")
ALICE = Actor(name="alice", source="api")


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakePagerDuty, FakeSlack]]:
    async with running_fakes() as pair:
        yield pair


async def test_trigger_ack_resolve_reach_pagerduty_once_each_and_slack_updates_in_place(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack))
    declared = await incidents.declare(
        title="Checkout errors",
        severity=Severity.P1,
        actor=RULES,
        dedup_key="checkout-errors",
        labels={"service": "checkout"},
        details=BREACH,
    )
    incident = declared.incident
    await deliver_until([sender], lambda: len(pd.events) == 1 and len(slack.calls("chat.postMessage")) == 2)

    trigger = pd.events[0]
    assert trigger["routing_key"] == ROUTING_KEY
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "checkout-errors"
    assert trigger["payload"]["severity"] == "error"
    assert (
        trigger["payload"]["summary"]
        == "P1 INC-1: Checkout errors: checkout error rate 4.2% (critical: above 1%)"
    )
    assert trigger["payload"]["class"] == "checkout_error_rate"
    assert trigger["payload"]["source"] == "checkout"
    assert trigger["payload"]["timestamp"] == incident.created_at.isoformat()
    assert trigger["payload"]["custom_details"]["labels"] == {"service": "checkout"}
    assert trigger["payload"]["custom_details"]["runbook"] == BREACH["runbook"]
    assert [link["href"] for link in trigger["links"]] == [
        f"http://incidentd.test/incidents/{incident.id}",
        "https://runbooks.example/checkout",
    ]
    alerts, critical = slack.top_level("#alerts"), slack.top_level("#alerts-critical")
    assert len(alerts) == 1
    assert len(critical) == 1
    actions = next(b for b in alerts[0].blocks if b["type"] == "actions")["elements"]
    assert [a["action_id"] for a in actions] == ["incident_ack", "incident_resolve", "incident_escalate"]
    assert {a["value"] for a in actions} == {str(incident.id)}

    await incidents.act(incident.id, Action.ACKNOWLEDGE, ALICE)
    await deliver_until([sender], lambda: len(pd.events) == 2 and len(slack.calls("chat.update")) == 2)
    await incidents.act(incident.id, Action.RESOLVE, ALICE)
    await deliver_until([sender], lambda: len(pd.events) == 3 and len(slack.calls("chat.update")) == 4)
    await sender.drain()

    assert [e["event_action"] for e in pd.events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in pd.events} == {"checkout-errors"}
    assert len(slack.top_level("#alerts")) == 1, "changes must update the message, not post new ones"
    replies = slack.replies(alerts[0].ts)
    assert [r.text.split(" by ")[0] for r in replies] == [
        ":eyes: Acknowledged",
        ":white_check_mark: Resolved",
    ]
    final = slack.messages[alerts[0].ts]
    assert "resolved" in final.text
    assert not [b for b in final.blocks if b["type"] == "actions"], "no buttons on a resolved incident"
    _, timeline = await incidents.get(incident.id)
    sent = [e.data for e in timeline if e.kind == "notification_sent"]
    assert sorted((d["channel"], d["kind"]) for d in sent) == [
        ("pagerduty", "acknowledge"),
        ("pagerduty", "resolve"),
        ("pagerduty", "trigger"),
        ("slack", "post"),
        ("slack", "post"),
    ]
    assert {r["status"] for r in await outbox(db)} == {"sent"}


async def test_p3_goes_to_slack_alerts_only(db: Database, fakes: tuple[FakePagerDuty, FakeSlack]) -> None:
    pd, slack = fakes
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack))
    await incidents.declare(title="disk 80%", severity=Severity.P3, actor=RULES)
    await deliver_until([sender], lambda: len(slack.calls("chat.postMessage")) == 1)
    await sender.drain()
    assert pd.received == []
    assert len(slack.top_level("#alerts")) == 1
    assert slack.top_level("#alerts-critical") == []


async def test_outage_500_then_429_every_message_arrives_in_order_none_twice(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack))
    pd.fail(500, 4)
    pd.fail(429, 2, retry_after=1)
    slack.fail(500, 3)
    slack.fail(429, 1, retry_after=1)
    ids = []
    for index in range(3):
        result = await incidents.declare(
            title=f"db {index}", severity=Severity.P0, actor=RULES, dedup_key=f"db-{index}"
        )
        ids.append(result.incident.id)
    for incident_id in ids:
        await incidents.act(incident_id, Action.ACKNOWLEDGE, ALICE)
        await incidents.act(incident_id, Action.RESOLVE, ALICE)

    def slack_done() -> bool:
        top = slack.top_level("#alerts") + slack.top_level("#alerts-critical")
        return len(top) == 6 and all("resolved" in m.text for m in top)

    await deliver_until([sender], lambda: len(pd.events) == 9 and slack_done())
    await sender.drain()

    assert len(pd.failures) == 6
    assert len(slack.failures) == 4
    seen = Counter((e["dedup_key"], e["event_action"]) for e in pd.events)
    assert set(seen.values()) == {1}, f"sent twice: {seen}"
    for index in range(3):
        actions = [e["event_action"] for e in pd.events if e["dedup_key"] == f"db-{index}"]
        assert actions == ["trigger", "acknowledge", "resolve"]
    for message in slack.top_level("#alerts") + slack.top_level("#alerts-critical"):
        # A burst (post, ack, resolve) may be coalesced into fewer calls, but never reordered.
        lines = [line.split(" by ")[0] for r in slack.replies(message.ts) for line in r.text.split("\n")]
        assert lines == [":eyes: Acknowledged", ":white_check_mark: Resolved"]
    for throttled in [f for f in pd.failures if f["status"] == 429]:
        later = [r["at"] for r in pd.received if r["at"] > throttled["at"]]
        assert later, "something must follow a 429"
        assert min(later) - throttled["at"] >= 0.9, "Retry-After: 1 was not honoured"
    assert {r["status"] for r in await outbox(db)} == {"sent"}


async def test_two_senders_over_many_intents_never_double_send(
    db: Database, database_url: str, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    settings = notification_settings(pd, slack)
    incidents, _, _ = build_notifications(db, settings, storm=False)
    replicas = [Database(database_url, min_size=1, max_size=6) for _ in range(2)]
    senders = [build_notifications(r, settings, concurrency=4)[1] for r in replicas]
    count = 25
    for index in range(count):
        result = await incidents.declare(
            title=f"i{index}", severity=Severity.P1, actor=RULES, dedup_key=f"k{index}"
        )
        if index % 2:
            await incidents.act(result.incident.id, Action.ACKNOWLEDGE, ALICE)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in senders]
    expected_pd = count + count // 2
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while len(pd.events) < expected_pd or {r["status"] for r in await outbox(db)} != {"sent"}:
            assert asyncio.get_running_loop().time() < deadline, "not delivered in time"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # give a double send the chance to show up
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for replica in replicas:
            await replica.close()
    seen = Counter((e["dedup_key"], e["event_action"]) for e in pd.events)
    assert len(seen) == expected_pd
    assert set(seen.values()) == {1}, f"sent twice: {[k for k, v in seen.items() if v > 1]}"
    posts = Counter(
        (p["channel"], p["text"].split(":")[0])
        for p in slack.calls("chat.postMessage")
        if "thread_ts" not in p
    )
    assert len(posts) == count * 2
    assert set(posts.values()) == {1}
    assert {r["status"] for r in await outbox(db)} == {"sent"}


async def test_storm_posts_one_summary_per_channel_but_pages_every_incident(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    clock = FrozenClock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack), clock=clock)
    for index in range(12):
        await incidents.declare(title=f"node {index} down", severity=Severity.P1, actor=RULES)
        clock.advance(timedelta(seconds=1))
    await sender.drain()
    assert len(slack.top_level("#alerts")) == 10, "the first 10 (policy max_new_incidents) post normally"
    clock.advance(timedelta(seconds=60))
    await sender.drain()
    top = slack.top_level("#alerts")
    assert len(top) == 11
    assert "Incident storm in #alerts" in top[-1].text
    shown = "\n".join(b["text"]["text"] for b in top[-1].blocks)
    assert "2 new incidents" in shown
    assert "node 10 down" in shown
    assert "node 11 down" in shown
    assert len(slack.top_level("#alerts-critical")) == 11
    assert len(pd.events) == 12, "PagerDuty still gets every trigger"
    storm_rows = await outbox(db, kind="post", status="coalesced", target="#alerts")
    assert len(storm_rows) == 2
    await incidents.act(storm_rows[0]["incident_id"], Action.ACKNOWLEDGE, ALICE)
    await sender.drain()
    replies = slack.replies(top[-1].ts)
    assert len(replies) == 1
    assert "Acknowledged" in replies[0].text
    assert len(slack.top_level("#alerts")) == 11

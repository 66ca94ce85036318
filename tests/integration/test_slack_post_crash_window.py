"""A crash after Slack accepted a post but before the outbox row is marked sent must not post twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from service.adapters.postgres.database import Database
from service.domain.incidents import Actor
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.notifications.channels.slack.delivery import SlackDelivery
from service.notifications.outcomes import DeliveryError
from service.notifications.snapshots import snapshot
from service.testing.fake_slack import FakeSlack

TOKEN = "xoxb-111-222-fakefakefake"


class Rollback(Exception):
    """Stands for the process dying before its transaction commits."""


async def post_then_die(
    db: Database, delivery: SlackDelivery, incident_id: int, snap: dict[str, Any], now: datetime
) -> None:
    async with db.transaction() as conn:
        await delivery.post_or_update(
            conn, incident_id=incident_id, channel="#alerts", snapshot=snap, changes=[], now=now
        )
        raise Rollback


async def declare_p1(db: Database, title: str) -> tuple[Any, dict[str, Any]]:
    declared = await IncidentService(db).declare(title=title, severity=Severity.P1, actor=Actor("a", "api"))
    return declared, snapshot(declared.incident, [], "http://incidentd.test")


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()


async def test_post_then_crash_before_commit_updates_instead_of_posting_again(
    db: Database, slack: FakeSlack
) -> None:
    declared, snap = await declare_p1(db, "checkout errors")
    delivery = SlackDelivery(TOKEN, f"{slack.url}/api/", db)
    now = datetime.now(UTC)
    try:
        with pytest.raises(Rollback):
            await post_then_die(db, delivery, declared.incident.id, snap, now)
        async with db.transaction() as conn:
            outcome = await delivery.post_or_update(
                conn, incident_id=declared.incident.id, channel="#alerts", snapshot=snap, changes=[], now=now
            )
    finally:
        await delivery.close()
    assert outcome == "updated"
    assert len(slack.calls("chat.postMessage")) == 1
    assert len(slack.calls("chat.update")) == 1


async def test_crash_between_slacks_answer_and_our_record_finds_the_post_instead_of_repeating_it(
    db: Database, slack: FakeSlack
) -> None:
    declared, snap = await declare_p1(db, "checkout errors")
    dying = SlackDelivery(TOKEN, f"{slack.url}/api/", db)

    async def killed(*_: object, **__: object) -> None:
        raise Rollback  # the process dies the instant Slack has answered

    dying._remember = killed  # type: ignore[method-assign]
    restarted = SlackDelivery(TOKEN, f"{slack.url}/api/", db)
    now = datetime.now(UTC)
    try:
        with pytest.raises(Rollback):
            await post_then_die(db, dying, declared.incident.id, snap, now)
        assert len(slack.top_level("#alerts")) == 1
        async with db.transaction() as conn:
            outcome = await restarted.post_or_update(
                conn, incident_id=declared.incident.id, channel="#alerts", snapshot=snap, changes=[], now=now
            )
    finally:
        await dying.close()
        await restarted.close()
    assert outcome == "updated"
    assert len(slack.top_level("#alerts")) == 1  # found in conversations.history, not posted again
    assert len(slack.calls("conversations.history")) == 1
    stored = await db.fetchrow("SELECT channel_id, ts FROM slack_messages")
    assert stored is not None
    assert stored["ts"] == slack.top_level("#alerts")[0].ts


async def test_a_post_that_never_reached_slack_is_made_after_the_crash(
    db: Database, slack: FakeSlack
) -> None:
    declared, snap = await declare_p1(db, "search slow")
    delivery = SlackDelivery(TOKEN, f"{slack.url}/api/", db)
    now = datetime.now(UTC)
    slack.fail(500, 1)
    try:
        with pytest.raises(DeliveryError):
            async with db.transaction() as conn:
                await delivery.post_or_update(
                    conn,
                    incident_id=declared.incident.id,
                    channel="#alerts",
                    snapshot=snap,
                    changes=[],
                    now=now,
                )
        assert await db.fetchval("SELECT ts FROM slack_messages") is None  # recorded as under way
        async with db.transaction() as conn:
            outcome = await delivery.post_or_update(
                conn, incident_id=declared.incident.id, channel="#alerts", snapshot=snap, changes=[], now=now
            )
    finally:
        await delivery.close()
    assert outcome == "posted"
    assert len(slack.top_level("#alerts")) == 1


async def test_a_thread_reply_that_may_have_gone_out_is_not_repeated(db: Database, slack: FakeSlack) -> None:
    declared, snap = await declare_p1(db, "queue backlog")
    delivery = SlackDelivery(TOKEN, f"{slack.url}/api/", db)
    now = datetime.now(UTC)
    incident_id = declared.incident.id

    async def update(outbox_id: int, *, maybe_sent: bool) -> str:
        async with db.transaction() as conn:
            return await delivery.post_or_update(
                conn,
                incident_id=incident_id,
                channel="#alerts",
                snapshot=snap,
                changes=["acknowledged by alice"],
                now=now,
                outbox_id=outbox_id,
                maybe_sent=maybe_sent,
            )

    try:
        async with db.transaction() as conn:
            await delivery.post_or_update(
                conn, incident_id=incident_id, channel="#alerts", snapshot=snap, changes=[], now=now
            )
        assert await update(41, maybe_sent=False) == "updated"
        assert await update(41, maybe_sent=True) == "updated"  # the crash retry of the same intent
        assert await update(42, maybe_sent=True) == "updated"  # another intent whose reply never left
    finally:
        await delivery.close()
    parent = slack.top_level("#alerts")[0]
    assert [m.text for m in slack.replies(parent.ts)] == ["acknowledged by alice"] * 2

"""A kill -9 between Slack accepting a storm summary message and our record of it must not post it twice."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from service.adapters.postgres.database import Database
from service.domain.incidents import Actor
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.notifications.channels.slack.delivery import SlackDelivery
from service.notifications.channels.slack.storm_summary import storm_parts
from service.notifications.outcomes import DeliveryError
from service.notifications.snapshots import snapshot
from service.testing.fake_slack import FakeSlack

TOKEN = "xoxb-111-222-fakefakefake"
CHANNEL = "#alerts"
_LINK = re.compile(r"<([^|<>]+)\|")


class Killed(Exception):
    """Stands for the process dying the instant Slack has answered."""


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()


async def _members(db: Database, count: int) -> list[tuple[int, dict[str, Any]]]:
    service = IncidentService(db)
    members = []
    for n in range(count):
        declared = await service.declare(
            title=f"node-{n:03d} unreachable {'x' * 200}", severity=Severity.P2, actor=Actor("rules", "rules")
        )
        members.append((declared.incident.id, snapshot(declared.incident, [], "http://incidentd.test")))
    return members


def _storm_posts(slack: FakeSlack) -> list[str]:
    return [m.ts for m in slack.top_level(CHANNEL) if "Incident storm" in m.text]


async def _summary(delivery: SlackDelivery, members: list[tuple[int, dict[str, Any]]]) -> int:
    return await delivery.post_summary(
        channel=CHANNEL, interval_seconds=60, members=members, now=datetime.now(UTC)
    )


async def test_summary_part_posted_before_a_crash_is_found_not_posted_again(
    db: Database, slack: FakeSlack
) -> None:
    members = await _members(db, 120)  # long lines: several parts
    dying = SlackDelivery(TOKEN, f"{slack.url}/api/", db)
    remembered = 0
    real_remember = dying._remember

    async def remember_then_die(*args: Any, **kwargs: Any) -> None:
        nonlocal remembered
        if remembered == 1:  # the second part is in Slack, our record of it never commits
            raise Killed
        remembered += 1
        await real_remember(*args, **kwargs)

    dying._remember = remember_then_die  # type: ignore[method-assign]
    restarted = SlackDelivery(TOKEN, f"{slack.url}/api/", db)
    try:
        with pytest.raises(Killed):
            await _summary(dying, members)
        assert len(_storm_posts(slack)) == 2
        posted_after = await _summary(restarted, members)
    finally:
        await dying.close()
        await restarted.close()
    posts = _storm_posts(slack)
    assert posted_after >= 1, "the parts never posted before the crash are posted now"
    assert len(posts) == 2 + posted_after == len(storm_parts(CHANNEL, 60, members))
    named = Counter(
        url
        for m in slack.top_level(CHANNEL)
        for block in m.blocks
        for url in _LINK.findall(str((block.get("text") or {}).get("text", "")))
    )
    assert named == Counter({str(snap["url"]): 1 for _, snap in members}), "each incident named once"
    assert len(slack.calls("conversations.history")) >= 1
    rows = await db.fetch("SELECT incident_id, ts, summary FROM slack_messages WHERE channel = $1", CHANNEL)
    assert {r["incident_id"] for r in rows} == {i for i, _ in members}
    assert all(r["summary"] and r["ts"] in posts for r in rows), "every incident points at its message"
    named_by: dict[str, int] = {}
    for row in rows:
        named_by[row["ts"]] = named_by.get(row["ts"], 0) + 1
    assert set(named_by) == set(posts), "each message names the incidents recorded for it"


async def test_summary_part_that_never_reached_slack_is_posted_on_retry(
    db: Database, slack: FakeSlack
) -> None:
    members = await _members(db, 3)
    delivery = SlackDelivery(TOKEN, f"{slack.url}/api/", db)
    slack.fail(500, 1)
    try:
        with pytest.raises(DeliveryError):
            await _summary(delivery, members)
        under_way = await db.fetch("SELECT ts, summary, attempt_key FROM slack_messages")
        assert len(under_way) == 3
        assert all(r["ts"] is None and r["summary"] and r["attempt_key"] for r in under_way)
        assert await _summary(delivery, members) == 1
    finally:
        await delivery.close()
    assert len(_storm_posts(slack)) == 1
    assert await db.fetchval("SELECT count(*) FROM slack_messages WHERE ts IS NOT NULL") == 3


async def test_an_incidents_own_post_after_a_lost_summary_attempt_is_a_regular_post(
    db: Database, slack: FakeSlack
) -> None:
    members = await _members(db, 2)
    delivery = SlackDelivery(TOKEN, f"{slack.url}/api/", db)
    slack.fail(500, 1)
    incident_id, snap = members[0]
    try:
        with pytest.raises(DeliveryError):
            await _summary(delivery, members)
        async with db.transaction() as conn:
            outcome = await delivery.post_or_update(
                conn,
                incident_id=incident_id,
                channel=CHANNEL,
                snapshot=snap,
                changes=[],
                now=datetime.now(UTC),
            )
    finally:
        await delivery.close()
    assert outcome == "posted"
    assert _storm_posts(slack) == []
    row = await db.fetchrow("SELECT ts, summary FROM slack_messages WHERE incident_id = $1", incident_id)
    assert row is not None
    assert row["ts"] == slack.top_level(CHANNEL)[0].ts
    assert not row["summary"]

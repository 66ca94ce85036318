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
from service.notifications import messages
from service.notifications.channels.slack.delivery import SlackDelivery
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


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()


async def test_post_then_crash_before_commit_updates_instead_of_posting_again(
    db: Database, slack: FakeSlack
) -> None:
    incidents = IncidentService(db)
    declared = await incidents.declare(title="checkout errors", severity=Severity.P1, actor=Actor("a", "api"))
    snap = messages.snapshot(declared.incident, {}, "http://incidentd.test")
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

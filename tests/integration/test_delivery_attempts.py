"""Every provider call is counted before it starts, so a restart can tell "maybe sent" from "not sent"."""

from __future__ import annotations

import pytest
from notification_harness import build_notifications, deliver_until, notification_settings, running_fakes

from service.adapters.postgres.database import Database
from service.domain.incidents import Actor
from service.domain.severity import Severity

RULES = Actor(name="rules", source="rules")


async def test_attempts_are_recorded_and_an_unfinished_one_is_called_maybe_sent(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(db, notification_settings(pd, slack))
        await incidents.declare(title="Checkout errors", severity=Severity.P1, actor=RULES, dedup_key="co")
        trigger_id = await db.fetchval(
            "SELECT id FROM notification_outbox WHERE channel = 'pagerduty' AND kind = 'trigger'"
        )
        # A previous process started this call and died before recording any outcome.
        await db.execute(
            "INSERT INTO notification_attempts (outbox_id, attempts, first_at, last_at)"
            " VALUES ($1, 1, now(), now())",
            trigger_id,
        )
        pd.fail(500, 1)  # and this attempt fails once, which is recorded as an outcome
        await deliver_until(
            [sender], lambda: len(pd.events) == 1 and len(slack.calls("chat.postMessage")) == 2
        )
    rows = await db.fetch(
        "SELECT o.channel, o.attempts AS failed, a.attempts AS started FROM notification_outbox o"
        " JOIN notification_attempts a ON a.outbox_id = o.id ORDER BY o.id"
    )
    started = {(r["channel"], r["failed"], r["started"]) for r in rows}
    assert ("pagerduty", 2, 3) in started  # the crashed call and the failed one; then the one that worked
    assert all(r["started"] >= 1 for r in rows)
    logged = capsys.readouterr().out
    assert logged.count("notification_maybe_sent_before") == 1  # only right after the crash

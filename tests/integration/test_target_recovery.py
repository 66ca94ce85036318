"""A provider back after an outage: pages waiting out their backoff go at once, not minutes later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notification_harness import build_notifications, notification_settings, running_fakes

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.domain.incidents import Actor
from service.domain.notification_policy import DeliveryPolicy
from service.domain.severity import Severity

RULES = Actor(name="rules", source="rules")
SLOW_BACKOFF = DeliveryPolicy(backoff_initial=timedelta(seconds=60), backoff_max=timedelta(minutes=5))


def _triggers(events: list[dict[str, object]]) -> list[object]:
    return [e["dedup_key"] for e in events if e["event_action"] == "trigger"]


async def test_the_first_page_through_after_an_outage_makes_the_waiting_ones_due_now(db: Database) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(
            db, notification_settings(pd, slack), clock=clock, delivery=SLOW_BACKOFF
        )
        pd.fail(500, 1_000)
        for n in range(3):
            await incidents.declare(
                title=f"checkout {n}", severity=Severity.P1, actor=RULES, dedup_key=f"k{n}"
            )
        await sender.drain()
        waiting = await db.fetch(
            "SELECT attempts, next_attempt_at FROM notification_outbox"
            " WHERE channel = 'pagerduty' AND kind = 'trigger'"
        )
        assert [r["attempts"] for r in waiting] == [1, 1, 1]
        assert all(r["next_attempt_at"] >= clock() + timedelta(seconds=30) for r in waiting)
        pd.heal()
        await incidents.declare(title="checkout 3", severity=Severity.P1, actor=RULES, dedup_key="k3")
        await sender.drain()  # the clock has not moved: only the new page is due by its own schedule
        assert len(_triggers(pd.events)) == 4, "the three pages held up by the outage went with the first"
        pending = await db.fetchval("SELECT count(*) FROM notification_outbox WHERE status = 'pending'")
    assert pending == 0

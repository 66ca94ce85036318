"""Silence start and end reach Slack once, through the outbox, whoever made the silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notification_harness import (
    build_notifications,
    deliver_until,
    notification_settings,
    outbox,
    running_fakes,
)

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.config.silence_policy import SilencePolicy
from service.domain.silence_matchers import parse_matchers
from service.notifications.silence_announcer import announce_once
from service.silences.service import Silences
from service.silences.snapshot import Muter


async def test_silence_started_and_expired_early_are_posted_once(db: Database) -> None:
    clock = FrozenClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    silences = Silences(db, Muter(SilencePolicy()), clock)
    async with running_fakes() as (pd, slack):
        _, sender, _ = build_notifications(db, notification_settings(pd, slack), clock=clock)
        silence_id = await silences.upsert(
            matchers=parse_matchers('service="pay<ments>"'),
            starts_at=clock.now,
            ends_at=clock.now + timedelta(hours=2),
            created_by="alice",
            comment="swap <disk> & reboot",
        )
        assert await announce_once(db, clock, ["#alerts"]) == 1
        assert await announce_once(db, clock, ["#alerts"]) == 0  # claimed once
        await deliver_until([sender], lambda: len(slack.top_level("#alerts")) == 1)
        [started] = slack.top_level("#alerts")
        assert started.text.startswith(":mute: Silence")
        assert "pay&lt;ments&gt;" in started.text
        assert "swap &lt;disk&gt; &amp; reboot" in started.text
        clock.advance(timedelta(minutes=10))
        await silences.expire(silence_id, "bob")
        assert await announce_once(db, clock, ["#alerts"]) == 1
        await deliver_until([sender], lambda: len(slack.top_level("#alerts")) == 2)
        ended = [m.text for m in slack.top_level("#alerts")][1]
        assert "ended early by bob" in ended
        assert len(await outbox(db, kind="notice")) == 2

"""Maintenance windows reach Slack when they start and end, an ad-hoc one 15 minutes before it ends:
each notice once, however many replicas beat at the same time, escaped for Slack, through the outbox."""

from __future__ import annotations

import asyncio
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
from service.domain.maintenance_windows import RecurringWindow
from service.domain.silence_matchers import parse_matchers
from service.domain.time_intervals import build_interval
from service.notifications.window_announcer import announce_windows_once
from service.silences.service import Silences
from service.silences.snapshot import Muter

CHANNELS = ["#alerts", "#ops"]
ALERTS = ["#alerts"]  # the fake Slack's channel


def _weekly() -> RecurringWindow:
    """Sundays 02:00-04:00 in Berlin, as a policy file would give it."""
    interval = build_interval(
        times=[("02:00", "04:00")],
        weekdays=["sunday"],
        days_of_month=[],
        months=[],
        years=[],
        location="Europe/Berlin",
    )
    return RecurringWindow(
        name="weekly <db> patching",
        intervals=(interval,),
        matchers=tuple(parse_matchers('service="db"')),
        owner="dba & co",
    )


async def _beat(
    db: Database, clock: FrozenClock, recurring: list[RecurringWindow], channels: list[str] = CHANNELS
) -> int:
    """Two replicas beating at once: between them, each event is claimed once."""
    counts = await asyncio.gather(
        announce_windows_once(db, clock, channels, recurring),
        announce_windows_once(db, clock, channels, recurring),
    )
    return sum(counts)


async def test_recurring_window_start_and_end_once_each(db: Database) -> None:
    clock = FrozenClock(datetime(2026, 5, 2, 23, 59, tzinfo=UTC))  # Sunday 01:59 in Berlin (UTC+2)
    weekly = [_weekly()]
    assert await _beat(db, clock, weekly) == 0
    clock.advance(timedelta(minutes=2))
    assert await _beat(db, clock, weekly) == 1
    assert await _beat(db, clock, weekly) == 0
    clock.advance(
        timedelta(hours=1, minutes=58)
    )  # 03:59 Berlin: still open, and a recurring one is not warned
    assert await _beat(db, clock, weekly) == 0
    clock.advance(timedelta(minutes=2))
    assert await _beat(db, clock, weekly) == 1
    clock.advance(
        timedelta(days=7)
    )  # next Sunday, 04:01: closed; a beat that missed the opening says nothing
    assert await _beat(db, clock, weekly) == 0
    notices = await outbox(db, kind="notice")
    assert len(notices) == 2 * len(CHANNELS)
    events = [(n["payload"]["event"], n["target"]) for n in notices]
    assert sorted(events) == sorted(
        [("started", "#alerts"), ("started", "#ops"), ("ended", "#alerts"), ("ended", "#ops")]
    )
    assert notices[0]["payload"]["ends_at"] == "2026-05-03 02:00 UTC"


async def test_adhoc_window_warned_15_minutes_before_it_ends_and_delivered_escaped(db: Database) -> None:
    clock = FrozenClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    silences = Silences(db, Muter(SilencePolicy()), clock)
    async with running_fakes() as (pd, slack):
        _, sender, _ = build_notifications(db, notification_settings(pd, slack), clock=clock)
        await silences.start_window(
            name="payments <migration>",
            matchers=parse_matchers('service="pay&co"'),
            starts_at=clock.now,
            ends_at=clock.now + timedelta(hours=1),
            owner="<!channel> alice",
        )
        short = await silences.start_window(
            name="blip",
            matchers=[],
            starts_at=clock.now,
            ends_at=clock.now + timedelta(minutes=10),
            owner="bob",
        )
        assert short
        assert await _beat(db, clock, [], ALERTS) == 2  # both started
        clock.advance(timedelta(minutes=10))
        assert (
            await _beat(db, clock, [], ALERTS) == 1
        )  # the short one ended, never warned (it said when it ends)
        clock.advance(timedelta(minutes=34))  # 16 minutes left
        assert await _beat(db, clock, [], ALERTS) == 0
        clock.advance(timedelta(minutes=1, seconds=30))
        assert await _beat(db, clock, [], ALERTS) == 1
        assert await _beat(db, clock, [], ALERTS) == 0
        clock.advance(timedelta(minutes=15))
        assert await _beat(db, clock, [], ALERTS) == 1
        assert await _beat(db, clock, [], ALERTS) == 0
        await deliver_until([sender], lambda: len(slack.top_level("#alerts")) == 5)
        texts = [m.text for m in slack.top_level("#alerts")]
    payments = [t for t in texts if "payments" in t]
    assert [t.split(" ", 1)[0] for t in payments] == [
        ":construction:",
        ":hourglass_flowing_sand:",
        ":loud_sound:",
    ]
    assert "ends in 15 minutes, at 2026-05-04 10:00 UTC" in payments[1]
    assert "`payments &lt;migration&gt;`" in payments[0]
    assert "&lt;!channel&gt; alice" in payments[0]
    assert "<!channel>" not in "".join(texts)
    assert '`{service="pay&amp;co"}`' in payments[0]
    assert any("`blip`" in t and "all alerts" in t for t in texts)
    assert len(await outbox(db, kind="notice")) == 5

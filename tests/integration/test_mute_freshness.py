"""Mutes hold on every replica from the moment they are committed: a replica that loaded its mutes a
moment ago sees a silence made on another replica at once, a silence starting within its reuse window at
its instant, and a maintenance window opening at its minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.config.silence_policy import SilencePolicy
from service.domain.maintenance_windows import RecurringWindow
from service.domain.silence_matchers import parse_matchers
from service.domain.time_intervals import build_interval
from service.silences.service import Silences
from service.silences.snapshot import Muter

PAY = {"alertname": "Down", "service": "pay"}


async def test_a_silence_made_on_one_replica_mutes_on_another_at_once(db: Database) -> None:
    clock = FrozenClock(datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    here, there = Muter(SilencePolicy()), Muter(SilencePolicy())
    async with db.connection() as conn:
        assert not (await there.snapshot(conn, clock.now)).verdict(PAY).muted  # loaded and kept
        silence_id = await Silences(db, here, clock).upsert(
            matchers=parse_matchers('service="pay"'),
            starts_at=clock.now,
            ends_at=clock.now + timedelta(hours=1),
            created_by="alice",
            comment="deploy",
        )
        clock.advance(timedelta(milliseconds=100))  # well within the second a snapshot may be reused
        assert (await there.snapshot(conn, clock.now)).verdict(PAY).silenced_by == (silence_id,)
        await Silences(db, here, clock).expire(silence_id, "bob")
        clock.advance(timedelta(milliseconds=100))
        assert not (await there.snapshot(conn, clock.now)).verdict(PAY).muted


async def test_time_moving_on_is_exact_within_the_reuse(db: Database) -> None:
    clock = FrozenClock(datetime(2026, 5, 4, 9, 0, 59, 500_000, tzinfo=UTC))
    window = RecurringWindow(
        name="at nine-oh-one",
        intervals=(build_interval(times=[("09:01", "10:00")]),),
        matchers=tuple(parse_matchers('service="db"')),
        owner="dba",
    )
    muter = Muter(SilencePolicy(windows=(window,)))
    silences = Silences(db, Muter(SilencePolicy()), clock)
    await silences.upsert(
        matchers=parse_matchers('service="pay"'),
        starts_at=clock.now + timedelta(milliseconds=300),
        ends_at=clock.now + timedelta(hours=1),
        created_by="alice",
        comment="starts in a moment",
    )
    async with db.connection() as conn:
        first = await muter.snapshot(conn, clock.now)
        assert not first.verdict(PAY).muted  # pending
        assert not first.verdict({"service": "db"}).muted
        clock.advance(timedelta(milliseconds=400))
        kept = await muter.snapshot(conn, clock.now)
        assert kept.generation == first.generation  # nothing changed in the database: reused ...
        assert kept.verdict(PAY).muted  # ... and judged at its own instant
        clock.advance(timedelta(milliseconds=200))  # 09:01:00.1: the window opened
        assert (await muter.snapshot(conn, clock.now)).verdict({"service": "db"}).windows == (
            "at nine-oh-one",
        )

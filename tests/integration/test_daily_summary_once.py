"""The daily summary goes out exactly once per slot across replicas, even when one is SIGKILLed mid-claim."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from notification_harness import (
    build_notifications,
    deliver_until,
    notification_settings,
    running_fakes,
)

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.domain.incidents import Action, Actor
from service.domain.report_schedule import DailySchedule, ReportPolicy
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.reports.daily_run import NO_EMAIL_CHANNEL, DailySummaries

ROOT = Path(__file__).resolve().parents[2]
REPLICA = Path(__file__).with_name("summary_replica.py")
SCHEDULED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
URL = "http://incidentd.test"
POLICY = ReportPolicy(daily=DailySchedule(recipients=("ops@example.com",), slack_channels=("#alerts",)))


class Emails:
    def __init__(self) -> None:
        self.sent: list[tuple[tuple[str, ...], str]] = []

    async def __call__(
        self,
        conn: asyncpg.Connection,
        *,
        to: Sequence[str],
        subject: str,
        text: str,
        html: str,
        now: datetime,
        idempotency_key: str,
    ) -> int:
        self.sent.append((tuple(to), subject))
        return len(to)


async def digests(db: Database) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM notification_outbox WHERE incident_id IS NULL AND payload->>'what' = 'digest'"
    )


async def test_two_replicas_through_the_scheduled_time_send_one_digest(
    db: Database, database_url: str
) -> None:
    clock = FrozenClock(SCHEDULED - timedelta(hours=3))
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(db, notification_settings(pd, slack), clock=clock)
        opened = await incidents.declare(
            title="Checkout <down>", severity=Severity.P1, actor=Actor("a", "api")
        )
        clock.advance(timedelta(minutes=7))
        await incidents.act(opened.incident.id, Action.ACKNOWLEDGE, Actor("alice", "slack"))
        await sender.drain()
        clock.now = SCHEDULED - timedelta(seconds=1)
        emails = [Emails(), Emails()]
        pools = [Database(database_url, min_size=1, max_size=2) for _ in range(2)]
        replicas = [
            DailySummaries(
                p, POLICY, None, "http://incidentd.test", clock, f"r{i}", email=e, check_every=0.01
            )
            for i, (p, e) in enumerate(zip(pools, emails, strict=True))
        ]
        stop = asyncio.Event()
        loops = [asyncio.create_task(r.loop(stop)) for r in replicas]
        await asyncio.sleep(0.2)
        assert await digests(db) == []  # not yet due
        clock.now = SCHEDULED + timedelta(seconds=1)
        await asyncio.sleep(0.5)
        clock.advance(timedelta(hours=1))  # still within the slot: nothing more
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*loops)
        for pool in pools:
            await pool.close()
        assert len(await digests(db)) == 1
        assert sum(len(e.sent) for e in emails) == 1
        [run] = await db.fetch("SELECT * FROM report_runs")
        assert run["slot"] == SCHEDULED.date()
        assert run["outcome"]["email"] == 1
        await deliver_until([sender], lambda: len(slack.top_level("#alerts")) == 2)
        digest = slack.top_level("#alerts")[-1]
        assert digest.blocks
        assert digest.blocks[0]["text"]["text"] == "Incident summary for 2026-12-01"
        assert "acknowledged 1: median 7m, worst 7m" in str(digest.blocks)


async def test_without_an_email_channel_the_run_says_so(db: Database) -> None:
    clock = FrozenClock(SCHEDULED)
    runs = DailySummaries(db, POLICY, None, URL, clock, "solo")
    outcome = await runs.run_if_due()
    assert outcome == {"slack": ["#alerts"], "email": NO_EMAIL_CHANNEL}
    assert await runs.run_if_due() is None


@pytest.mark.slow
async def test_a_replica_killed_while_claiming_leaves_the_slot_to_the_other(
    db: Database, database_url: str
) -> None:
    await db.execute(  # yesterday's was sent: the survivor, started after 08:00, may catch up
        "INSERT INTO report_runs (report, slot, due_at, claimed_at, runner)"
        " VALUES ('daily_summary', $1, $2, $2, 'yesterday')",
        SCHEDULED.date() - timedelta(days=1),
        SCHEDULED - timedelta(days=1),
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.time() + 1.0  # the scheduled time arrives a second from now, in both processes

    def spawn(name: str, mode: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(REPLICA), database_url, name, str(t0), mode],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE if mode == "hang" else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    hanging = spawn("hanging", "hang")
    try:
        line = await asyncio.wait_for(asyncio.to_thread(hanging.stdout.readline), 20)  # type: ignore[union-attr]
        assert line.strip() == b"CLAIMED"
        other = spawn("survivor", "send")
        try:
            await asyncio.sleep(1.0)  # the survivor is polling, blocked on the uncommitted claim
            assert await db.fetch("SELECT * FROM report_runs WHERE slot = $1", SCHEDULED.date()) == []
            assert await digests(db) == []  # the claimant's queued digest is not visible: not committed
            os.kill(hanging.pid, signal.SIGKILL)
            hanging.wait(10)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if await db.fetch("SELECT * FROM report_runs WHERE slot = $1", SCHEDULED.date()):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # would a second claim or digest appear?
        finally:
            other.kill()
            other.wait(10)
    finally:
        if hanging.poll() is None:
            hanging.kill()
            hanging.wait(10)
        if hanging.stdout is not None:
            hanging.stdout.close()
    [run] = await db.fetch("SELECT * FROM report_runs WHERE slot = $1", SCHEDULED.date())
    assert run["runner"] == "survivor"
    assert run["outcome"]["email"] == 1
    assert len(await digests(db)) == 1


async def test_who_has_it_follows_the_acknowledgement(db: Database) -> None:
    clock = FrozenClock(SCHEDULED - timedelta(hours=2))
    incidents = IncidentService(db, clock=clock)
    opened = await incidents.declare(title="queue", severity=Severity.P2, actor=Actor("rules", "rules"))
    await incidents.act(opened.incident.id, Action.ACKNOWLEDGE, Actor("alice", "slack"))
    runs = DailySummaries(db, POLICY, None, URL, clock, "solo")
    async with db.connection() as conn:
        assert "held by alice" in (await runs.summary(conn, SCHEDULED)).still_open[0].detail
    await incidents.act(opened.incident.id, Action.UNACKNOWLEDGE, Actor("alice", "slack"))
    async with db.connection() as conn:
        assert "nobody has it" in (await runs.summary(conn, SCHEDULED)).still_open[0].detail


async def test_a_missed_slot_is_caught_up_only_where_summaries_were_sent_before(db: Database) -> None:
    late = FrozenClock(SCHEDULED + timedelta(hours=1))  # started an hour after the scheduled time
    assert await DailySummaries(db, POLICY, None, URL, late, "new").run_if_due() is None
    await db.execute(
        "INSERT INTO report_runs (report, slot, due_at, claimed_at, runner)"
        " VALUES ('daily_summary', $1, $2, $2, 'yesterday')",
        SCHEDULED.date() - timedelta(days=1),
        SCHEDULED - timedelta(days=1),
    )
    outcome = await DailySummaries(db, POLICY, None, URL, late, "restarted").run_if_due()
    assert outcome is not None
    assert outcome["slack"] == ["#alerts"]
    too_late = FrozenClock(SCHEDULED + timedelta(hours=7))
    assert DailySchedule().slot_due(too_late()) is None

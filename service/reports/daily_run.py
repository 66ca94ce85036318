"""The daily summary, sent once per scheduled slot across every replica, even when one dies mid-send.

The replica whose `report_runs` INSERT commits owns the slot. Its Slack digest and its emails are
written to the outbox in that same transaction, so either the claim and every message commit together
or none of them do: a replica killed after claiming leaves nothing, and the next one to look takes the
slot. Other replicas wait on the uncommitted row, then see it and do nothing. Delivery is then the
outbox's job (at least once, with retries); idempotency keys stop a slot being queued twice.

A slot whose time passed before this process started (it was down at 08:00) is still sent, up to
MAX_LATE, but only by an installation that has sent an earlier summary: a new one, or a test or demo
started mid-morning, begins with the first slot that passes while it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Protocol

import asyncpg
import structlog

from service.adapters.postgres.database import Database
from service.clock import Clock
from service.dependencies import Key
from service.domain.daily_summary import DailySummary, compose
from service.domain.escalation_policy import RcaTimers
from service.domain.report_schedule import ReportPolicy
from service.notifications.channels.email.outbox import enqueue_email
from service.notifications.outbox import enqueue
from service.reports.email_parts import html_part, subject, text_part
from service.reports.slack_digest import digest_blocks
from service.reports.summary_store import FollowUpSource, read_facts
from service.supervisor import progress, sleep_or_stop

log = structlog.get_logger(__name__)
REPORT = "daily_summary"
CHECK_EVERY = 30.0
STALL_AFTER = 10 * CHECK_EVERY
NO_EMAIL_CHANNEL = "skipped: no email channel is installed"


class EmailPort(Protocol):
    """Queues one email in the caller's transaction (the email channel's outbox rows); returns how many."""

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
    ) -> int: ...


async def outbox_email(
    conn: asyncpg.Connection,
    *,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str,
    now: datetime,
    idempotency_key: str,
) -> int:
    """The email channel's outbox rows, one per address, in the claim's transaction."""
    queued = 0
    for address in to:
        row = await enqueue_email(
            conn,
            to=address,
            subject=subject,
            text=text,
            html=html,
            now=now,
            idempotency_key=f"{idempotency_key}:email:{address}",
        )
        queued += row is not None
    return queued


class DailySummaries:
    def __init__(
        self,
        db: Database,
        policy: ReportPolicy,
        rca_timers: RcaTimers | None,
        public_url: str,
        clock: Clock,
        runner: str,
        *,
        email: EmailPort | None = None,
        followups: FollowUpSource | None = None,
        check_every: float = CHECK_EVERY,
    ) -> None:
        self._db = db
        self._policy = policy
        self._timers = rca_timers
        self._public_url = public_url
        self._clock = clock
        self._runner = runner
        self._email = email
        self._followups = followups
        self._check_every = check_every
        self._started = clock()

    async def loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.run_if_due()
            progress()
            if await sleep_or_stop(stop, self._check_every):
                return

    async def summary(self, conn: asyncpg.Connection, end: datetime) -> DailySummary:
        severities = sorted(self._timers.severities) if self._timers is not None else []
        facts = await read_facts(conn, end, severities, self._followups)
        return compose(facts, self._timers, self._public_url)

    async def run_if_due(self) -> dict[str, Any] | None:
        """This slot's summary if this replica wins it; None when none is due or it is taken."""
        schedule = self._policy.daily
        now = self._clock()
        slot = schedule.slot_due(now)
        if slot is None:
            return None
        due_at = schedule.due_at(slot)
        if due_at < self._started and not await self._has_sent_before(slot):
            return None  # a new installation starts with the first slot that passes while it runs
        async with self._db.transaction() as conn:
            claimed = await conn.fetchval(
                "INSERT INTO report_runs (report, slot, due_at, claimed_at, runner)"
                " VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (report, slot) DO NOTHING RETURNING slot",
                REPORT,
                slot,
                due_at,
                now,
                self._runner,
            )
            if claimed is None:
                return None
            summary = await self.summary(conn, due_at)
            outcome = await self.deliver(conn, summary, f"{REPORT}:{slot.isoformat()}", now)
            await conn.execute(
                "UPDATE report_runs SET outcome = $3 WHERE report = $1 AND slot = $2", REPORT, slot, outcome
            )
        log.info("daily_summary_queued", slot=slot.isoformat(), **outcome)
        return outcome

    async def _has_sent_before(self, slot: date) -> bool:
        """Catching up a slot missed while down is for installations that already send summaries."""
        found = await self._db.fetchval(
            "SELECT 1 FROM report_runs WHERE report = $1 AND slot < $2 LIMIT 1", REPORT, slot
        )
        return found is not None

    async def send_now(self) -> dict[str, Any]:
        """`incidentd report daily --send`: the last 24 hours now, outside the schedule's slots."""
        now = self._clock()
        async with self._db.transaction() as conn:
            summary = await self.summary(conn, now)
            return await self.deliver(conn, summary, f"{REPORT}:manual:{now.isoformat()}", now)

    async def deliver(
        self, conn: asyncpg.Connection, summary: DailySummary, key: str, now: datetime
    ) -> dict[str, Any]:
        schedule = self._policy.daily
        outcome: dict[str, Any] = {"slack": [], "email": 0}
        if "slack" in schedule.channels:
            text, blocks = digest_blocks(summary, self._public_url)
            for channel in schedule.slack_channels:
                row = await enqueue(
                    conn,
                    incident_id=None,
                    channel="slack",
                    kind="notice",
                    target=channel,
                    payload={"what": "digest", "text": text, "blocks": blocks},
                    now=now,
                    idempotency_key=f"{key}:slack:{channel}",
                )
                if row is not None:
                    outcome["slack"].append(channel)
        if "email" in schedule.channels:
            if self._email is None:
                outcome["email"] = NO_EMAIL_CHANNEL
            elif not schedule.recipients:
                outcome["email"] = "skipped: no recipients"
            else:
                outcome["email"] = await self._email(
                    conn,
                    to=schedule.recipients,
                    subject=subject(summary),
                    text=text_part(summary),
                    html=html_part(summary),
                    now=now,
                    idempotency_key=key,
                )
        return outcome


DAILY_SUMMARIES: Key[DailySummaries] = Key("daily_summaries")

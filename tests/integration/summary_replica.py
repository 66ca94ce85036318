"""One replica's daily-summary worker in a process of its own, for the exactly-once crash test.

`python summary_replica.py DATABASE_URL NAME T0 hang|send`: the clock reads 2026-12-01 08:00 UTC (the
scheduled time) at the wall-clock epoch T0, so replicas started together run through the slot together.
`hang` stops inside the claiming transaction (after the Slack digest is queued, while the email is
being queued) and says CLAIMED, so the test can SIGKILL it at exactly that moment.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from service.adapters.postgres.database import Database
from service.domain.report_schedule import DailySchedule, ReportPolicy
from service.reports.daily_run import DailySummaries

SCHEDULED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
URL = "http://incidentd.test"
POLICY = ReportPolicy(daily=DailySchedule(recipients=("ops@example.com",), slack_channels=("#alerts",)))


async def main(url: str, name: str, t0: float, mode: str) -> None:
    def clock() -> datetime:
        return SCHEDULED + timedelta(seconds=time.time() - t0)

    async def email(
        conn: asyncpg.Connection,
        *,
        to: Sequence[str],
        subject: str,
        text: str,
        html: str,
        now: datetime,
        idempotency_key: str,
    ) -> int:
        if mode == "hang":
            print("CLAIMED", flush=True)
            await asyncio.sleep(3600)
        return len(to)

    db = Database(url, min_size=1, max_size=2)
    runs = DailySummaries(
        db, POLICY, None, "http://incidentd.test", clock, name, email=email, check_every=0.05
    )
    stop = asyncio.Event()
    await runs.loop(stop)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]))

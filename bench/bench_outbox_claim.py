"""The outbox claim on a 1,000,000-row outbox: its plan, and how long one claim takes.

In a scratch database created and dropped here: 1,000,000 rows, of which 950,000 were
sent long ago (history retention has not removed yet) and 50,000 are pending, spread
over 2,000 incidents and four targets: Slack #alerts (30,000, paused: rate limited),
Slack #alerts-critical (10,000), PagerDuty default (8,000) and a storm's members
(2,000 posts sharing one storm key). The sender's own SQL (service/notifications/store.py)
is timed inside a transaction that is rolled back, so every
round claims from the same backlog. Aim: under 5 ms per claim.

Usage: python bench/bench_outbox_claim.py   (TEST_DATABASE_URL or DATABASE_URL; default local `test`)
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from scratch import run_in_scratch, seed_incidents

from service.adapters.postgres.database import Database
from service.notifications import store

ROWS = 1_000_000
PENDING = 50_000
INCIDENTS = 2_000
ROUNDS = 200
PAUSED = ["slack:#alerts"]  # its shared pacing bucket is empty for a day (a rate limit)


async def _seed(db: Database) -> None:
    await seed_incidents(db, INCIDENTS)
    # Pending rows: n = 1..PENDING; the target decides the channel; one intent per incident and target
    # is due first (the others queue behind it, as an incident's later updates do).
    await db.execute(
        """
        INSERT INTO notification_outbox (incident_id, channel, kind, target, payload, status,
                                         next_attempt_at, created_at)
        SELECT 1 + n % $2,
               CASE WHEN n % 25 < 4 THEN 'pagerduty' ELSE 'slack' END,
               CASE WHEN n % 25 < 4 THEN 'trigger' WHEN n % 25 IN (4, 9) THEN 'post' ELSE 'update' END,
               CASE WHEN n % 25 < 4 THEN 'default' WHEN n % 25 < 9 THEN '#alerts-critical'
                    WHEN n % 25 = 9 THEN '#alerts-storm' ELSE '#alerts' END,
               CASE WHEN n % 25 = 9 THEN jsonb_build_object('storm_key', 'storm-1') ELSE '{}'::jsonb END,
               'pending', now() - interval '1 minute', now() - interval '1 minute'
        FROM generate_series(1, $1) AS n
        """,
        PENDING,
        INCIDENTS,
    )
    await db.execute(
        """
        INSERT INTO notification_outbox (incident_id, channel, kind, target, status, next_attempt_at,
                                         created_at, sent_at)
        SELECT 1 + n % $2, 'slack', 'update', '#alerts', 'sent', now() - interval '2 days',
               now() - interval '2 days', now() - interval '2 days'
        FROM generate_series(1, $1) AS n
        """,
        ROWS - PENDING,
        INCIDENTS,
    )
    await db.execute(
        "INSERT INTO notification_pacing (channel, target, tokens, refilled_at, blocked_until)"
        " VALUES ('slack', '#alerts', 0, now(), now() + interval '1 day')"
    )
    await db.execute("VACUUM ANALYZE notification_outbox")


async def _claim_costs(db: Database) -> list[float]:
    costs: list[float] = []
    async with db.connection() as conn:
        for _ in range(ROUNDS):
            tx = conn.transaction()
            await tx.start()
            started = time.perf_counter()
            row = await store.claim(conn, datetime.now(UTC))
            costs.append(time.perf_counter() - started)
            assert row is not None
            assert f"{row.channel}:{row.target}" not in PAUSED
            await tx.rollback()
    return sorted(costs)


async def _storm_costs(db: Database) -> list[float]:
    costs: list[float] = []
    async with db.connection() as conn:
        for _ in range(ROUNDS // 10):
            tx = conn.transaction()
            await tx.start()
            started = time.perf_counter()
            members = await store.claim_storm_members(conn, "storm-1")
            costs.append(time.perf_counter() - started)
            assert members
            await tx.rollback()
    return sorted(costs)


async def _plans(db: Database) -> None:
    async with db.connection() as conn:
        claim_sql, storm_sql = _CAPTURED["claim"], _CAPTURED["claim_storm_members"]
        back_sql = _CAPTURED["retry_backing_off"]
        for name, sql, args in (
            ("claim", claim_sql, (datetime.now(UTC),)),
            ("storm members", storm_sql, ("storm-1",)),
            ("target back: retry what backs off for it", back_sql, ("slack", "#alerts", datetime.now(UTC))),
        ):
            tx = conn.transaction()  # EXPLAIN ANALYZE runs an UPDATE for real: rolled back
            await tx.start()
            plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", *args)
            await tx.rollback()
            print(f"\nEXPLAIN ANALYZE: {name}")
            for line in plan:
                print("  " + line[0])


_CAPTURED: dict[str, str] = {}


async def _capture() -> None:
    """The statements the store functions send, taken from a connection stand-in."""

    class Capture:
        def __init__(self, name: str) -> None:
            self.name = name

        async def fetchrow(self, query: str, *_: object) -> None:
            _CAPTURED[self.name] = query

        async def fetch(self, query: str, *_: object) -> list[object]:
            _CAPTURED[self.name] = query
            return []

        async def execute(self, query: str, *_: object) -> str:
            _CAPTURED[self.name] = query
            return "UPDATE 0"

    await store.claim(Capture("claim"), datetime.now(UTC))
    await store.claim_storm_members(Capture("claim_storm_members"), "storm-1")
    await store.retry_backing_off(Capture("retry_backing_off"), "slack", "#alerts", datetime.now(UTC))


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


async def _run(url: str) -> None:
    db = Database(url, min_size=1, max_size=2, command_timeout=600)
    try:
        started = time.perf_counter()
        await _seed(db)
        print(f"seeded {ROWS:,} outbox rows ({PENDING:,} pending) in {time.perf_counter() - started:.0f} s")
        await _capture()
        await _plans(db)
        rows = [("claim (paused #alerts skipped)", await _claim_costs(db))]
        rows.append(("storm members (2,000 rows)", await _storm_costs(db)))
    finally:
        await db.close()
    print(f"\n{'query on 1,000,000 rows':34} {'runs':>5} {'mean ms':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for name, costs in rows:
        print(
            f"{name:34} {len(costs):>5} {statistics.mean(costs) * 1000:>8.2f}"
            f" {_pct(costs, 0.5) * 1000:>7.2f} {_pct(costs, 0.99) * 1000:>7.2f}"
        )
    claim = statistics.median(rows[0][1]) * 1000
    harness.record("outbox_claim", "claim_median_ms", round(claim, 2), "ms", target="< 5", met=claim < 5)
    print(f"\naim: a claim under 5 ms: {harness.verdict(claim < 5)} (median {claim:.2f} ms)")


def main() -> None:
    run_in_scratch(_run)


if __name__ == "__main__":
    main()

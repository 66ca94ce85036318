"""Escalation timers as production composes them: lateness of fired steps (due -> performed).

The service is built by `build_app` with the default components (bench/production.py), so each
step performed writes its `escalated` event and next rung, and the notification observer turns it
into outbox intents, exactly as in production. The 10,000 P1 incidents are opened through the
product (their first page and Slack posts written, then marked delivered), as after an outage.
Scenarios, in a scratch database:
  steady   10,000 open incidents with pending timers; 1,000 of them fall due spread over 10 s
  backlog  the same 10,000 incidents, all due at once (a restart after an outage)
  idle     10,000 pending timers, none due: one poll (claim + next-due query)

The worker is the service's own loop (`EscalationWorker.loop`, 1 s sleep cap) on the system clock.
Targets: backlog drained in <= 3 s with p99 lateness <= 3 s; steady p99 lateness < 1 s.

Usage: python bench/bench_escalation.py   (TEST_DATABASE_URL or DATABASE_URL, else embedded)
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from production import ROOT, Service, build_service
from scratch import run_in_scratch

from service.clock import system_clock
from service.domain.incidents import Actor
from service.domain.severity import Severity
from service.escalation.worker import ESCALATION_WORKER, EscalationWorker
from service.incidents.service import DeclareRequest

BENCH = "escalation"
INCIDENTS = 10_000
BENCH_ACTOR = Actor(name="rules", source="rules")


async def _seed(service: Service, due_sql: str) -> None:
    """10,000 P1 incidents opened through the product (steps armed, PagerDuty and Slack intents
    written), their messages delivered, then their first rung made due as `due_sql` says."""
    db = service.db
    await db.execute(
        "TRUNCATE escalation_steps, notification_outbox, pagerduty_dedup_keys, incident_events, incidents"
        " RESTART IDENTITY CASCADE"
    )
    for start in range(0, INCIDENTS, 500):
        async with service.incidents.transaction() as tx:
            await service.incidents.declare_many_in(
                tx,
                [
                    DeclareRequest(
                        title=f"bench {n}",
                        severity=Severity.P1,
                        dedup_key=f"b-{n}",
                        labels={"service": "bench"},
                    )
                    for n in range(start, min(start + 500, INCIDENTS))
                ],
                BENCH_ACTOR,
            )
    await db.execute("UPDATE notification_outbox SET status = 'sent', sent_at = now()")
    await db.execute(
        f"UPDATE escalation_steps SET due_at = {due_sql} WHERE kind = 'escalate'"  # noqa: S608
    )
    await db.execute("ANALYZE")


async def _fire(service: Service, expected: int, timeout: float) -> tuple[float, list[float]]:
    worker: EscalationWorker = service.get(ESCALATION_WORKER)
    db = service.db
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(worker.loop(stop))
    deadline = started + timeout
    while time.perf_counter() < deadline:
        done = await db.fetchval("SELECT count(*) FROM escalation_steps WHERE state = 'done'")
        if done >= expected:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    rows = await db.fetch(
        "SELECT extract(epoch FROM finished_at - due_at)::float8 AS late FROM escalation_steps"
        " WHERE state = 'done'"
    )
    return elapsed, sorted(max(0.0, r["late"]) for r in rows)


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def _idle(service: Service, rounds: int = 300) -> list[float]:
    worker: EscalationWorker = service.get(ESCALATION_WORKER)
    costs: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        await worker.run_once()
        await worker.seconds_until_due()
        costs.append(time.perf_counter() - start)
    return sorted(costs)


async def _run(url: str) -> None:
    service = build_service(url, ROOT / "rules", clock=system_clock)
    db = service.db
    try:
        await _seed(
            service,
            "CASE WHEN incident_id <= 1000"
            " THEN now() + interval '5 seconds' + (incident_id % 1000) * interval '10 milliseconds'"
            " ELSE now() + interval '6 hours' END",
        )
        steady_wall, steady = await _fire(service, 1000, 60)
        await _seed(service, "now() - interval '1 minute'")
        backlog_wall, backlog = await _fire(service, INCIDENTS, 300)
        backlog = [v - 60 for v in backlog]  # they were a minute overdue on purpose
        intents = await db.fetchval("SELECT count(*) FROM notification_outbox WHERE status = 'pending'")
        await _seed(service, "now() + interval '6 hours'")
        costs = await _idle(service)
    finally:
        await service.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    steady_p99, backlog_p99 = _pct(steady, 0.99), _pct(backlog, 0.99)
    drained = len(backlog) >= INCIDENTS and backlog_wall <= 3.0
    harness.record(BENCH, "steady_p99_lateness_s", steady_p99, "s", target="< 1 s", met=steady_p99 < 1.0)
    harness.record(
        BENCH, "backlog_drain_s", backlog_wall, "s", target="<= 3 s", met=drained,
        note=f"{len(backlog)} of {INCIDENTS} steps done, {intents} outbox intents written",
    )  # fmt: skip
    harness.record(BENCH, "backlog_p99_lateness_s", backlog_p99, "s", target="<= 3 s", met=backlog_p99 <= 3.0)
    harness.record(BENCH, "backlog_p50_lateness_s", _pct(backlog, 0.5), "s")
    harness.record(BENCH, "idle_poll_mean_ms", statistics.mean(costs) * 1000, "ms")
    harness.record(BENCH, "peak_rss_mb", rss, "MB", target="<= 300 MB", met=rss <= 300)
    harness.print_table(
        "Escalation timers, production composition (every observer); loaded shared 2-core machine",
        ("scenario", "steps", "p50 s", "p99 s", "wall s", "target", "verdict"),
        [
            ("steady (1,000 of 10,000 due over 10 s)", len(steady), _pct(steady, 0.5), steady_p99,
             steady_wall, "p99 < 1 s", harness.verdict(steady_p99 < 1.0)),
            ("backlog (10,000 due at once)", len(backlog), _pct(backlog, 0.5), backlog_p99, backlog_wall,
             "drain <= 3 s, p99 <= 3 s", harness.verdict(drained and backlog_p99 <= 3.0)),
            ("idle poll, 10,000 pending (mean / p99 ms)", "", statistics.mean(costs) * 1000,
             _pct(costs, 0.99) * 1000, "", "", ""),
            ("peak RSS MB", "", "", "", rss, "<= 300 MB", harness.verdict(rss <= 300)),
        ],
    )  # fmt: skip


def main() -> None:
    run_in_scratch(_run)


if __name__ == "__main__":
    main()

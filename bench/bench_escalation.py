"""Escalation timers: lateness of fired steps (due → performed) and the cost of an idle poll.

Scenarios, in a scratch database created and dropped here:
  steady   10,000 open incidents with pending timers; 1,000 of them fall due spread over 10 s
  backlog  the same 10,000 incidents, all due at once (a restart after an outage)
  idle     10,000 pending timers, none due: one poll (claim + next-due query)

The worker is the service's own loop (`EscalationWorker.loop`, 1 s sleep cap) on
the system clock; each step writes its `escalated` event and next rung exactly as
in production. Aim from the issue: p99 lateness under 1 s (steady).

Usage: python bench/bench_escalation.py   (TEST_DATABASE_URL or DATABASE_URL; default local `test`)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgspec
from scratch import run_in_scratch, seed_incidents

from service.adapters.postgres.database import Database
from service.clock import system_clock
from service.components import Context
from service.config.policy_files import load_severity_policy
from service.config.silence_policy import SilencePolicy
from service.escalation.component import EscalationConfig, build
from service.escalation.worker import ESCALATION_WORKER, EscalationWorker
from service.incidents.service import IncidentService
from service.settings import load_settings
from service.silences.snapshot import Muter

ROOT = Path(__file__).resolve().parent.parent
INCIDENTS = 10_000


async def _seed(db: Database, due_sql: str) -> None:
    await db.execute("TRUNCATE escalation_steps, incident_events, incidents RESTART IDENTITY CASCADE")
    await seed_incidents(db, INCIDENTS)
    await db.execute(
        "INSERT INTO escalation_steps (incident_id, kind, level, due_at, armed_at)"  # noqa: S608
        f" SELECT id, 'escalate', 1, {due_sql}, now() FROM incidents"
    )
    await db.execute("ANALYZE escalation_steps")


def _worker(db: Database) -> EscalationWorker:
    settings = msgspec.structs.replace(load_settings({}), rules_dir=ROOT / "rules")
    context = Context(
        settings=settings,
        database_url="",
        db=db,
        incidents=IncidentService(db, clock=system_clock),
        clock=system_clock,
        severity_policy=load_severity_policy(ROOT / "rules" / "policy" / "severities.yaml"),
        muter=Muter(SilencePolicy()),
    )
    component = build(context, EscalationConfig(policy_path=ROOT / "rules" / "policy" / "escalation.yaml"))
    component.attach(context.incidents)
    return component.provided(ESCALATION_WORKER)


async def _fire(db: Database, expected: int, timeout: float) -> tuple[float, list[float]]:
    worker = _worker(db)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(worker.loop(stop))
    deadline = started + timeout
    while time.perf_counter() < deadline:
        done = await db.fetchval("SELECT count(*) FROM escalation_steps WHERE state = 'done'")
        if done >= expected:
            break
        await asyncio.sleep(0.2)
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


async def _idle(db: Database, rounds: int = 300) -> list[float]:
    worker = _worker(db)
    costs: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        await worker.run_once()
        await worker.seconds_until_due()
        costs.append(time.perf_counter() - start)
    return sorted(costs)


async def _run(url: str) -> None:
    db = Database(url, min_size=2, max_size=4)
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        await _seed(
            db,
            "CASE WHEN id <= 1000"
            " THEN now() + interval '3 seconds' + (id % 1000) * interval '10 milliseconds'"
            " ELSE now() + interval '6 hours' END",
        )
        elapsed, late = await _fire(db, 1000, 60)
        rows.append(
            (
                "steady (1,000 of 10,000 due over 10 s)",
                f"{len(late)}",
                f"{_pct(late, 0.5) * 1000:.0f}",
                f"{_pct(late, 0.99) * 1000:.0f}",
                f"{elapsed:.1f}",
            )
        )
        await _seed(db, "now() - interval '1 minute'")
        elapsed, late = await _fire(db, INCIDENTS, 300)
        late = [v - 60 for v in late]  # they were a minute overdue on purpose
        rows.append(
            (
                "backlog (10,000 due at once)",
                f"{len(late)}",
                f"{_pct(late, 0.5) * 1000:.0f}",
                f"{_pct(late, 0.99) * 1000:.0f}",
                f"{elapsed:.1f}",
            )
        )
        await _seed(db, "now() + interval '6 hours'")
        costs = await _idle(db)
        idle = f"idle poll, 10,000 pending: mean {statistics.mean(costs) * 1000:.2f} ms, "
        idle += f"p99 {_pct(costs, 0.99) * 1000:.2f} ms"
    finally:
        await db.close()
    print(f"{'scenario':42} {'steps':>6} {'p50 ms':>7} {'p99 ms':>7} {'wall s':>7}")
    for name, steps, p50, p99, wall in rows:
        print(f"{name:42} {steps:>6} {p50:>7} {p99:>7} {wall:>7}")
    print(idle)


def main() -> None:
    run_in_scratch(_run)


if __name__ == "__main__":
    main()

"""The cost the value history adds to an evaluation round (measured on a loaded, shared machine).

Scenarios, each with the real ValueSampler and one INSERT into a scratch PostgreSQL per round:
  storm     10,000 rules with one firing series each, every round a new bucket (10,000 rows a round)
  big-rule  one rule with 20,000 breaching series in one group (1 row a round)

Target: the storm round's sampling stays under 10 % of bench_evaluation.py's many-rules round
(~2 s there), i.e. < 200 ms; the big rule's under 20 ms.

Usage: python bench/bench_value_samples.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import harness

from service.adapters.postgres.migrations import migrate
from service.alerting.value_samples import ValueSampler
from service.domain.alerts import AlertState, AlertStatus
from service.domain.rules import Comparison, Level, Rule, Signal, SignalKind, parse_selector
from service.domain.severity import Severity
from service.domain.units import UnitKind, parse_quantity
from service.testing.databases import create_scratch_database, drop_database

BENCH = "value_samples"
TARGETS_MS = {"storm": 200.0, "big-rule": 20.0}


def _rule(name: str) -> Rule:
    return Rule(
        name=name,
        group="bench",
        signal=Signal(kind=SignalKind.GAUGE, source="bench", metric=parse_selector("queue_depth")),
        comparison=Comparison.ABOVE,
        unit=UnitKind.COUNT,
        warning=parse_quantity("80"),
        critical=parse_quantity("95"),
        for_=timedelta(minutes=1),
        keep_firing_for=timedelta(0),
        severity={Level.WARNING: Severity.P3, Level.CRITICAL: Severity.P2},
        labels={},
        annotations={},
    )


async def _scenario(conn: asyncpg.Connection, name: str, rules: int, series: int, rounds: int) -> list[float]:
    made = [_rule(f"Bench{i}") for i in range(rules)]
    states = {
        f"s{j}": AlertState(labels={"i": str(j)}, status=AlertStatus.FIRING, value=90.0 + j % 5)
        for j in range(series)
    }
    keys = {key: f"group-{name}" for key in states}
    sampler = ValueSampler()
    now = datetime(2026, 6, 1, tzinfo=UTC)
    timings: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        for rule in made:
            sampler.observe(rule, states, keys if rules == 1 else {k: f"{rule.name}" for k in states}, now)
        async with conn.transaction():
            await sampler.flush(conn)
        timings.append((time.perf_counter() - started) * 1000)
        now += timedelta(seconds=30)
    return timings


async def main(rounds: int) -> None:
    harness.quiet_logs()
    admin = harness.admin_database_url()
    scratch = await create_scratch_database(admin, prefix="incidentd_bench")
    conn = await asyncpg.connect(scratch)
    rows = []
    try:
        await migrate(conn)
        for name, rules, series in (("storm", 10_000, 1), ("big-rule", 1, 20_000)):
            timings = await _scenario(conn, name, rules, series, rounds)
            median = statistics.median(timings[1:] or timings)
            target = TARGETS_MS[name]
            met = median < target
            harness.record(BENCH, f"{name}_round_ms", median, "ms", target=f"< {target:.0f} ms", met=met,
                           note="loaded shared machine")  # fmt: skip
            rows.append(
                (name, rules, rules * series, median, max(timings), f"< {target:.0f}", harness.verdict(met))
            )
        stored = await conn.fetchval("SELECT count(*) FROM alert_value_samples")
    finally:
        await conn.close()
        await drop_database(admin, scratch)
    harness.print_table(
        f"Value history per evaluation round ({rounds} rounds, {stored:,} rows; loaded shared machine)",
        ("scenario", "rules", "series", "median ms", "max ms", "target ms", "verdict"),
        rows,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=6)
    asyncio.run(main(parser.parse_args().rounds))

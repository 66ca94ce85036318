"""Rule evaluation with durable alert state: time per evaluation and peak RSS.

Scenarios (each in a fresh scratch database, each in its own process when run by run_all.py):
  big-rule   one `>` rule over 200,000 series of which 10 % breach
  many-rules 10,000 rules over 100,000 series (10 series per rule), 10 % breaching

The evaluator runs exactly as in the service (slot claim, load states, evaluate,
store changed states with one statement, open the grouped incident), fed by a
scripted source so the figure is evaluation + persistence; parsing is measured by
bench_parse.py. Reference from the issue: Prometheus 2.42 takes ~1.4 s and 1.3 GB
for the big rule on these machines; the aim is < 0.5 s and < 300 MB.

Usage: python bench/bench_evaluation.py [--scenario big-rule|many-rules|all] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import harness

from service.adapters.postgres.database import Database
from service.adapters.postgres.migrations import migrate
from service.alerting.evaluator import Evaluator
from service.alerting.rulebook import RuleBook
from service.clock import FrozenClock
from service.incidents.service import IncidentService
from service.testing.databases import create_scratch_database, drop_database
from service.testing.scripted_values import ScriptedSource

SOURCES = """
sources:
  scrape:
    - {name: bench, url: "http://127.0.0.1:9/metrics", interval: 15s, timeout: 5s}
"""

RULE = """
      - alert: {name}
        signal: {{source: bench, gauge: "{metric}", unit: count}}
        when: above
        warning: 80 jobs
        critical: 95 jobs
        for: 1m
        keep_firing_for: 0s
        severity: {{warning: P3, critical: P2}}
        annotations: {{summary: "{{{{ alertname }}}} at {{{{ value }}}}"}}
"""


def _pack(rules: int) -> str:
    body = [SOURCES, "groups:\n  - name: bench\n    interval: 30s\n    labels: {service: bench}\n    rules:"]
    body.extend(RULE.format(name=f"BenchRule{i}", metric=f"bench_metric_{i}") for i in range(rules))
    return "\n".join(body)


def _series(count: int, offset: int) -> list[tuple[dict[str, str], float]]:
    """`count` series; every tenth breaches (critical), the rest sit well below warning."""
    return [
        (
            {"instance": f"host-{(offset + i) % 5000}", "shard": str((offset + i) // 5000)},
            99.0 if i % 10 == 0 else 10.0 + (i % 50),
        )
        for i in range(count)
    ]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _scenario(url: str, name: str, rules: int, series_per_rule: int, rounds: int) -> dict[str, object]:
    admin = url
    scratch = await create_scratch_database(admin, prefix="incidentd_bench")
    conn = await asyncpg.connect(scratch)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    db = Database(scratch, min_size=1, max_size=4, command_timeout=300)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            await asyncio.to_thread(Path(tmp, "bench.yaml").write_text, _pack(rules))
            clock = FrozenClock(datetime(2026, 6, 1, tzinfo=UTC))
            book = RuleBook(Path(tmp), clock)
            loaded = book.reload()
            if not loaded.accepted:
                raise SystemExit("\n".join(loaded.problems))
            source = ScriptedSource()
            for index in range(rules):
                source.set(f"BenchRule{index}", _series(series_per_rule, index * series_per_rule))
            evaluator = Evaluator(
                db=db, incidents=IncidentService(db, clock=clock), rulebook=book, source=source, clock=clock
            )
            rss_before = _rss_mb()
            timings: list[float] = []
            for _ in range(rounds):
                started = time.perf_counter()
                evaluated = await evaluator.tick()
                timings.append(time.perf_counter() - started)
                assert evaluated == rules, f"evaluated {evaluated} of {rules} rules"
                clock.advance(timedelta(seconds=30))
            states = await db.fetchval("SELECT count(*) FROM alert_states")
            firing = await db.fetchval("SELECT count(*) FROM alert_states WHERE status = 'firing'")
            incidents = await db.fetchval("SELECT count(*) FROM incidents")
    finally:
        await db.close()
        await drop_database(admin, scratch)
    steady = timings[1:] or timings
    return {
        "scenario": name,
        "rules": rules,
        "series": rules * series_per_rule,
        "breaching": states,
        "firing": firing,
        "incidents": incidents,
        "first_s": timings[0],
        "median_s": statistics.median(steady),
        "max_s": max(steady),
        "rss_input_mb": rss_before,
        "peak_rss_mb": _rss_mb(),
    }


SCENARIOS = {"big-rule": (1, 200_000), "many-rules": (10_000, 10)}
TARGETS = {"big-rule": "aim < 0.5 s, < 300 MB (Prometheus 2.42: ~1.4 s, ~1.3 GB)", "many-rules": ""}


def _print(rows: list[dict[str, object]]) -> None:
    header = (
        f"{'scenario':<11} {'rules':>6} {'series':>8} {'breaching':>9} {'firing':>7} {'incidents':>9} "
        f"{'1st eval s':>10} {'median s':>9} {'max s':>7} {'peak RSS MB':>11}  target"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['scenario']:<11} {row['rules']:>6} {row['series']:>8} {row['breaching']:>9} "
            f"{row['firing']:>7} {row['incidents']:>9} {row['first_s']:>10.3f} {row['median_s']:>9.3f} "
            f"{row['max_s']:>7.3f} {row['peak_rss_mb']:>11.0f}  {TARGETS[str(row['scenario'])]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    harness.quiet_logs()
    url = harness.admin_database_url()
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    if len(names) > 1:
        print("Rule evaluation with alert state in PostgreSQL (one process per scenario)")
        # one process per scenario, so each peak RSS is its own
        import subprocess

        for name in names:
            subprocess.run(
                [sys.executable, __file__, "--scenario", name, "--rounds", str(args.rounds), "--quiet"],
                check=True,
            )
        return
    rows = [asyncio.run(_scenario(url, n, *SCENARIOS[n], rounds=args.rounds)) for n in names]
    _print(rows)


if __name__ == "__main__":
    if "--quiet" in sys.argv:
        sys.argv.remove("--quiet")
    main()

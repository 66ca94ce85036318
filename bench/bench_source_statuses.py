"""What keeping source statuses in PostgreSQL costs a collection round of 200 targets, and the listing.

After every collection, the alerting component (service/alerting/source_statuses.py, RecordingSource)
writes each target's fresh status. With 200 targets every 15 s, that write is on the evaluator's path
once per round; it must stay a small share of the interval. Two replicas write the same rows (each
scrapes for itself), so the rounds alternate between two replica names. Then GET /api/v1/sources'
read: every row, grouped by source. Aims: a round's write under 100 ms, the read under 50 ms.

Usage: python bench/bench_source_statuses.py   (TEST_DATABASE_URL or DATABASE_URL; default local `test`)
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from scratch import run_in_scratch

from service.adapters.postgres.database import Database
from service.alerting import source_statuses
from service.sources.statuses import SourceStatus

TARGETS = 200
ROUNDS = 40
WRITE_TARGET_MS = 100.0
READ_TARGET_MS = 50.0


def _statuses(at: datetime, round_number: int) -> list[SourceStatus]:
    return [
        SourceStatus(
            source="node",
            kind="scrape",
            ok=(n + round_number) % 50 != 0,
            error=None if (n + round_number) % 50 else "cannot connect to 10.0.0.1:9100: refused",
            labels={"job": "node", "instance": f"10.0.{n // 250}.{n % 250}:9100", "env": "prod"},
            duration_seconds=0.012,
            read_at=at,
            samples=1600,
            dropped_samples=n % 3,
        )
        for n in range(TARGETS)
    ]


async def _run(url: str) -> None:
    db = Database(url, min_size=1, max_size=2)
    try:
        writes: list[float] = []
        reads: list[float] = []
        start = datetime(2026, 6, 1, tzinfo=UTC)
        for round_number in range(ROUNDS):
            at = start + timedelta(seconds=15 * round_number)
            statuses = _statuses(at, round_number)
            replica = f"replica-{round_number % 2}"
            async with db.connection() as conn:
                began = time.perf_counter()
                await source_statuses.record(conn, statuses, replica, at)
                writes.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                source_statuses.by_source(await source_statuses.listing(conn))
                reads.append((time.perf_counter() - began) * 1000)
    finally:
        await db.close()
    write_p50, write_max = statistics.median(writes), max(writes)
    read_p50 = statistics.median(reads)
    harness.record("source_statuses", "write_200_targets_p50_ms", round(write_p50, 2), "ms",
                   target=f"< {WRITE_TARGET_MS:g} ms", met=write_p50 < WRITE_TARGET_MS,
                   note="loaded shared machine")  # fmt: skip
    harness.record("source_statuses", "write_200_targets_max_ms", round(write_max, 2), "ms")
    harness.record("source_statuses", "read_200_targets_p50_ms", round(read_p50, 2), "ms",
                   target=f"< {READ_TARGET_MS:g} ms", met=read_p50 < READ_TARGET_MS)  # fmt: skip
    harness.print_table(
        f"Source statuses, {TARGETS} targets, {ROUNDS} rounds (numbers from a loaded shared machine)",
        ("figure", "value", "target", "verdict"),
        [
            ("write a round, p50", f"{write_p50:.1f} ms", f"< {WRITE_TARGET_MS:g} ms",
             harness.verdict(write_p50 < WRITE_TARGET_MS)),
            ("write a round, max", f"{write_max:.1f} ms", "", ""),
            ("read for the API, p50", f"{read_p50:.1f} ms", f"< {READ_TARGET_MS:g} ms",
             harness.verdict(read_p50 < READ_TARGET_MS)),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    run_in_scratch(_run)

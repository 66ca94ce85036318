"""`make bench`: run every benchmark, each in its own process so memory figures stay its own.

Benchmarks print their own comparison tables; this runner orders them, gives them one PostgreSQL
(TEST_DATABASE_URL or DATABASE_URL, else the embedded server, started once here), sends their logs to one
file, starts a fresh results file, and ends with every target and whether it was met.
Pass names to run a subset: `python bench/run_all.py parse evaluation`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402  (bench/ is not a package; the runner is started as a script)

ORDER = [
    "parse",
    "evaluation",
    "value_samples",
    "escalation",
    "outbox",
    "slack",
    "console",
    "pipeline",
    "source_statuses",
    "alertmanager",
    "reports",
]
LAST = ["soak"]  # ten minutes of faults; the quick figures come first


def _summary() -> None:
    path = harness.results_path()
    if not path.exists():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = [
        (f"{bench}.{key}", entry["value"], entry["unit"], entry["target"], harness.verdict(entry["met"]))
        for bench, figures in sorted(data.items())
        for key, entry in sorted(figures.items())
        if "met" in entry
    ]
    if rows:
        harness.print_table("Targets", ("figure", "value", "unit", "target", "verdict"), rows)
    print(f"\nall figures: {path}; logs: {harness.log_path()}")


def main() -> int:
    available = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    rest = sorted(set(available) - set(ORDER) - set(LAST))
    wanted = sys.argv[1:] or [n for n in [*ORDER, *rest, *LAST] if n in available]
    unknown = [n for n in wanted if n not in available]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r} (have: {', '.join(sorted(available))})", file=sys.stderr)
        return 2
    harness.results_path().unlink(missing_ok=True)
    log = harness.log_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    env = {
        **os.environ,
        "TEST_DATABASE_URL": harness.admin_database_url(),
        harness.RESULTS_ENV: str(harness.results_path()),
        harness.LOG_ENV: str(log),
    }
    failed: list[str] = []
    for name in wanted:
        script = available[name]
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], check=False, env=env)
        took = time.perf_counter() - started
        print(f"--- {script.name}: exit {result.returncode} in {took:.0f} s", flush=True)
        if result.returncode != 0:
            failed.append(name)
    _summary()
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

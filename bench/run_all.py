"""`make bench`: run every benchmark, each in its own process so memory figures stay its own.

Benchmarks print their own comparison tables; this runner only orders them and
reports which failed. They need a PostgreSQL they may create scratch databases on:
TEST_DATABASE_URL or DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/test.
Pass names to run a subset: `python bench/run_all.py parse evaluation`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["parse", "evaluation", "escalation", "slack", "console", "prometheus"]


def main() -> int:
    available = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}
    wanted = sys.argv[1:] or [n for n in ORDER if n in available] + sorted(set(available) - set(ORDER))
    failed: list[str] = []
    for name in wanted:
        script = available.get(name)
        if script is None:
            print(f"unknown benchmark {name!r} (have: {', '.join(sorted(available))})", file=sys.stderr)
            return 2
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], check=False)
        took = time.perf_counter() - started
        print(f"--- {script.name}: exit {result.returncode} in {took:.0f} s", flush=True)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What every benchmark shares: where its PostgreSQL is, where its logs go, where its figures are kept.

`make bench` must work on a fresh machine, so without TEST_DATABASE_URL/DATABASE_URL the runner starts the
embedded PostgreSQL once and hands its URL to every benchmark process. Logs go to a file, never between
the tables. Every figure a benchmark prints is also written to `bench-results.json` (BENCH_RESULTS) under
a stable key, with its target and whether it was met, so runs can be compared by a program.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS_ENV = "BENCH_RESULTS"
LOG_ENV = "BENCH_LOG"


def admin_database_url() -> str:
    """A PostgreSQL URL the benchmark may create scratch databases on.

    The runner sets TEST_DATABASE_URL for its children (the machine's server, or the embedded one it
    started); a benchmark run on its own without either starts the embedded server itself.
    """
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return url
    from service.adapters.postgres.embedded import start_embedded

    uri, server = start_embedded(ROOT / ".data" / "bench-postgres")
    _KEEP_ALIVE.append(server)
    return uri


_KEEP_ALIVE: list[Any] = []


def log_path() -> Path:
    return Path(os.environ.get(LOG_ENV) or ROOT / ".data" / "bench.log")


def quiet_logs() -> Path:
    """Send structlog and standard-library logging to the bench log file; returns its path."""
    import logging

    import structlog

    from service.observability import configure_logging

    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = path.open("a", encoding="utf-8")
    configure_logging(log_format="json", level="info")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=stream))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(logging.StreamHandler(stream))
    return path


def results_path() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or ROOT / "bench-results.json")


def record(
    benchmark: str,
    key: str,
    value: float,
    unit: str,
    *,
    target: str | None = None,
    met: bool | None = None,
    note: str | None = None,
) -> None:
    """Keep one figure under `benchmark.key` in the results file (read, update, write: runs are serial)."""
    path = results_path()
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    entry: dict[str, Any] = {"value": value, "unit": unit}
    if target is not None:
        entry["target"] = target
    if met is not None:
        entry["met"] = met
    if note:
        entry["note"] = note
    data.setdefault(benchmark, {})[key] = entry
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain text table, columns as wide as their widest cell, numbers right-aligned."""
    cells = [[str(h) for h in header], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        line = "  ".join(
            c.rjust(w) if n and _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)
        )
        print(line.rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace(".", "").replace("x", "").replace("-", "")
    return stripped.isdigit()

"""A scrape target whose exposition is a pure function of the current *tick*, for side-by-side tests.

Two scrapers (Prometheus and incidentd) scraping once per tick at different moments
within it see exactly the same values for the same tick, so what each derives from
its own scrapes can be compared number for number. The timeline is a script of
the edges where PromQL's semantics matter: a steady phase, a step change in the
error rate and latency, a series that appears mid-run (not from zero), missed
scrapes (HTTP 503), a counter reset (the process restarted), and a gauge that
breaches for the `for` comparison.

It runs on a thread of its own, so a busy event loop in the test cannot delay an
answer into the next tick. It also records when each scraper called, by
User-Agent, so a test can place the tick boundary away from both.
"""

from __future__ import annotations

import http.server
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# Per-tick increments before and after the step change: requests, 5xx, latency buckets (cumulative).
BOUNDS = ("0.1", "0.5", "1", "+Inf")


@dataclass(frozen=True)
class Script:
    step_at: int = 17  # error rate 1% -> 5%, latency shifts to slower buckets
    new_series_at: int = 27  # a status="503" counter appears, already at 3
    missed: tuple[int, ...] = (37, 38, 39)  # the target answers 503 Service Unavailable
    reset_at: int = 47  # every counter restarts near zero
    breach_at: int = 6  # breach_gauge goes 0 -> 1
    end: int = 57


def _linear(k: int, start: float, before: float, after: float, change: int) -> float:
    """A counter growing by `before` per tick up to tick `change`, then by `after`."""
    if k <= change:
        return start + before * k
    return start + before * change + after * (k - change)


def values(script: Script, k: int) -> list[tuple[str, dict[str, str], float]]:
    """The samples of tick `k` (ticks before 0 are the warm-up: the steady phase extended back)."""
    since_reset = k - script.reset_at if k >= script.reset_at else None
    base = 0.0 if since_reset is not None else 10_000.0
    kk = since_reset if since_reset is not None else k
    change = script.step_at - (script.reset_at if since_reset is not None else 0)
    ok = _linear(kk, base + 7, 99.0, 95.0, change)
    errors_500 = _linear(kk, (base / 100) + 1, 1.0, 5.0, change)
    rows: list[tuple[str, dict[str, str], float]] = [
        ("tick_requests_total", {"status": "200"}, ok),
        ("tick_requests_total", {"status": "500"}, errors_500),
    ]
    if k >= script.new_series_at:
        born = script.new_series_at if since_reset is None else script.reset_at
        rows.append(("tick_requests_total", {"status": "503"}, 3.0 + 2.0 * (k - born)))
    fast_before, fast_after = (80.0, 95.0, 100.0, 100.0), (40.0, 70.0, 95.0, 100.0)
    for bound, before, after in zip(BOUNDS, fast_before, fast_after, strict=True):
        rows.append(
            ("tick_latency_seconds_bucket", {"le": bound}, _linear(kk, base / 10, before, after, change))
        )
    rows.append(("breach_gauge", {}, 1.0 if k >= script.breach_at else 0.0))
    return rows


def render(rows: list[tuple[str, dict[str, str], float]]) -> str:
    lines = [
        "# TYPE tick_requests_total counter",
        "# TYPE tick_latency_seconds histogram",
        "# TYPE breach_gauge gauge",
    ]
    for name, labels, value in rows:
        text = ",".join(f'{key}="{val}"' for key, val in labels.items())
        lines.append(f"{name}{{{text}}} {value!r}" if text else f"{name} {value!r}")
    return "\n".join(lines) + "\n"


@dataclass
class TickTarget:
    """Serves `values(script, tick)` where tick = floor(now - origin); before `origin` is set, tick -100."""

    script: Script = field(default_factory=Script)
    origin: float | None = None
    calls: dict[str, list[float]] = field(default_factory=dict)
    port: int = 0

    def tick(self, at: float) -> int:
        return -100 if self.origin is None else math.floor(at - self.origin)

    def answer(self, agent: str) -> tuple[int, str]:
        at = time.time()
        self.calls.setdefault(agent.split("/", 1)[0], []).append(at)
        k = self.tick(at)
        if k in self.script.missed:
            return 503, "unavailable\n"
        return 200, render(values(self.script, k))


@contextmanager
def serving(target: TickTarget) -> Iterator[TickTarget]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = target.answer(self.headers.get("User-Agent", ""))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    target.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield target
    finally:
        server.shutdown()
        server.server_close()

"""A small application exposing Prometheus metrics whose health follows a script or a test's commands.

It stands in for "the service being monitored" in the demo and the end-to-end
test: error rate, p95 latency and queue depth are set per phase, and the
exposed counters and histogram buckets grow consistently with them, so the
rules engine derives the same rates and quantiles it would from a real app.

Run: python -m service.testing.simulated_app --port 9300 [--script demo]
Control: POST /_sim/state {"error_rate": 0.05, "p95_seconds": 0.4, "queue_depth": 60}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field

from aiohttp import web

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 3.0, 5.0)
REQUESTS_PER_SECOND = 50.0


@dataclass
class State:
    error_rate: float = 0.002
    p95_seconds: float = 0.2
    queue_depth: float = 3.0


@dataclass
class Counters:
    """Monotonic counters integrated over time from the current state."""

    ok: float = 0.0
    errors: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))
    count: float = 0.0
    total_seconds: float = 0.0
    last: float = field(default_factory=time.monotonic)

    def advance(self, state: State) -> None:
        now = time.monotonic()
        elapsed, self.last = now - self.last, now
        requests = REQUESTS_PER_SECOND * elapsed
        self.errors += requests * state.error_rate
        self.ok += requests * (1 - state.error_rate)
        # 95 % of requests at half the p95, 5 % just above it: the derived p95 lands near the target.
        fast, slow = requests * 0.95, requests * 0.05
        for index, bound in enumerate(BUCKETS):
            if bound >= state.p95_seconds * 0.5:
                self.buckets[index] += fast
            if bound >= state.p95_seconds * 1.01:
                self.buckets[index] += slow
        self.count += requests
        self.total_seconds += fast * state.p95_seconds * 0.5 + slow * state.p95_seconds * 1.01


STATE_KEY = web.AppKey("state", State)
COUNTERS_KEY = web.AppKey("counters", Counters)


def render(state: State, counters: Counters) -> str:
    lines = [
        "# HELP app_http_requests_total Requests served, by status class.",
        "# TYPE app_http_requests_total counter",
        f'app_http_requests_total{{service="checkout",status="2xx"}} {counters.ok:.3f}',
        f'app_http_requests_total{{service="checkout",status="5xx"}} {counters.errors:.3f}',
        "# HELP app_http_request_duration_seconds Request latency.",
        "# TYPE app_http_request_duration_seconds histogram",
    ]
    for bound, value in zip(BUCKETS, counters.buckets, strict=True):
        labels = f'service="checkout",le="{bound}"'
        lines.append(f"app_http_request_duration_seconds_bucket{{{labels}}} {value:.3f}")
    lines += [
        f'app_http_request_duration_seconds_bucket{{service="checkout",le="+Inf"}} {counters.count:.3f}',
        f'app_http_request_duration_seconds_sum{{service="checkout"}} {counters.total_seconds:.3f}',
        f'app_http_request_duration_seconds_count{{service="checkout"}} {counters.count:.3f}',
        "# HELP app_queue_depth Jobs waiting in the queue.",
        "# TYPE app_queue_depth gauge",
        f'app_queue_depth{{service="checkout",queue="jobs"}} {state.queue_depth}',
        "",
    ]
    return "\n".join(lines)


def make_app(state: State | None = None) -> web.Application:
    app = web.Application()
    app[STATE_KEY] = state or State()
    app[COUNTERS_KEY] = Counters()

    async def metrics(request: web.Request) -> web.Response:
        current: State = request.app[STATE_KEY]
        counters: Counters = request.app[COUNTERS_KEY]
        counters.advance(current)
        return web.Response(text=render(current, counters), content_type="text/plain", charset="utf-8")

    async def set_state(request: web.Request) -> web.Response:
        current: State = request.app[STATE_KEY]
        counters: Counters = request.app[COUNTERS_KEY]
        counters.advance(current)  # settle the old rates before switching
        body = await request.json()
        for key in ("error_rate", "p95_seconds", "queue_depth"):
            if key in body:
                setattr(current, key, float(body[key]))
        return web.json_response(current.__dict__)

    app.router.add_get("/metrics", metrics)
    app.router.add_post("/_sim/state", set_state)
    return app


async def _serve(port: int, phases: list[dict[str, float]] | None) -> None:
    app = make_app()
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(json.dumps({"event": "simulated_app_listening", "port": port}), flush=True)
    try:
        if phases:
            for phase in phases:
                for key in ("error_rate", "p95_seconds", "queue_depth"):
                    if key in phase:
                        setattr(app[STATE_KEY], key, phase[key])
                await asyncio.sleep(phase.get("seconds", 10))
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9300)
    parser.add_argument("--phases", help="JSON list: [{seconds, error_rate, p95_seconds, queue_depth}]")
    args = parser.parse_args()
    phases = json.loads(args.phases) if args.phases else None
    asyncio.run(_serve(args.port, phases))


if __name__ == "__main__":
    main()

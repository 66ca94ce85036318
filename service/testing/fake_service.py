"""What the PagerDuty and Slack fakes share: a recorder, a failure switch, and a way to run.

Each fake is a real aiohttp server that the real SDK clients talk to over HTTP.
Tests inspect it in-process (`fake.received`, `fake.fail(...)`); the demo and
other processes use `GET /_fake/received` and `POST /_fake/fail`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Failure:
    status: int
    remaining: int
    retry_after: float | None = None


@dataclass
class FakeService:
    """Base for one fake: subclasses add their API routes in `routes()` and shape error bodies."""

    received: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    _queue: list[Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _runner: web.AppRunner | None = None
    url: str = ""
    latency: float = 0.0  # seconds each API call takes, so a test can catch sends in flight

    def fail(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """Queue a failure: `count` API calls answered with `status` (429 carries Retry-After).

        Failures queue up, so `fail(500, 3); fail(429, 2, retry_after=1)` plays both in order.
        """
        if count > 0:
            with self._lock:
                self._queue.append(Failure(status, count, retry_after))

    def heal(self) -> None:
        with self._lock:
            self._queue.clear()

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.failures.clear()
            self._queue.clear()

    def _take_failure(self) -> Failure | None:
        with self._lock:
            if not self._queue:
                return None
            failure = self._queue[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._queue.pop(0)
            return failure

    def record(self, request: web.Request, body: dict[str, Any]) -> None:
        with self._lock:
            self.received.append({"path": request.path, "at": time.time(), "body": body})

    def error_body(self, status: int) -> dict[str, Any]:
        return {"error": f"fake failure {status}"}

    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    def make_app(self) -> web.Application:
        @web.middleware
        async def failing(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith("/_fake/"):
                return await handler(request)
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            failure = self._take_failure()
            if failure is None:
                return await handler(request)
            with self._lock:
                self.failures.append({"path": request.path, "at": time.time(), "status": failure.status})
            headers = {}
            if failure.status == 429 and failure.retry_after is not None:
                headers["Retry-After"] = f"{failure.retry_after:g}"
            return web.json_response(self.error_body(failure.status), status=failure.status, headers=headers)

        async def received(_: web.Request) -> web.Response:
            with self._lock:
                return web.json_response({"received": list(self.received), "failures": list(self.failures)})

        async def set_failure(request: web.Request) -> web.Response:
            body = await request.json()
            status = int(body.get("status", 500))
            if status not in (429, 500, 502, 503):
                return web.json_response({"error": "status must be 429, 500, 502 or 503"}, status=400)
            retry_after = body.get("retry_after")
            self.fail(
                status, int(body.get("count", 1)), float(retry_after) if retry_after is not None else None
            )
            return web.json_response({"ok": True})

        async def heal(_: web.Request) -> web.Response:
            self.heal()
            return web.json_response({"ok": True})

        async def reset(_: web.Request) -> web.Response:
            self.reset()
            return web.json_response({"ok": True})

        app = web.Application(middlewares=[failing])
        app.add_routes(
            [
                web.get("/_fake/received", received),
                web.post("/_fake/fail", set_failure),
                web.post("/_fake/reset", reset),
                web.post("/_fake/heal", heal),
                *self.routes(),
            ]
        )
        return app

    async def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def serve_main(fake: FakeService, description: str, default_port: int) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    async def run() -> None:
        url = await fake.start(args.port, args.host)
        print(json.dumps({"event": f"{type(fake).__name__}_listening", "url": url}), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await fake.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())

"""A one-route HTTP target on loopback whose /metrics body a test decides at each request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def text_target(body: Callable[[], str]) -> AsyncIterator[str]:
    """Serve `body()` as text/plain at the yielded /metrics URL."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=body(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
    finally:
        await runner.cleanup()

"""Helpers for the browser tests: the running console, logging a browser in, screenshots."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from litestar import Litestar

from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack

API_TOKEN = "browser-test-token-0123"
PASSWORD = "correct horse battery"
SHOTS = Path(os.environ.get("INCIDENTD_SCREENSHOTS", "/tmp/incidentd-screenshots"))  # noqa: S108
# Short enough that every test run sees the browser reconnect on its own.
STREAM_SECONDS = 3.0


class Console:
    def __init__(self, url: str, app: Litestar, pd: FakePagerDuty, slack: FakeSlack) -> None:
        self.url = url
        self.app = app
        self.pd = pd
        self.slack = slack

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
        )


class Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own
        pass


def listening_socket() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


@asynccontextmanager
async def serving(app: Litestar, sock: socket.socket, url: str) -> AsyncIterator[None]:
    """Run `app` under uvicorn in a thread (as `incidentd serve` runs it) until /readyz answers 200."""
    server = Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("incidentd did not become ready")
                await asyncio.sleep(0.1)
        yield
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 15)
        sock.close()


async def login(browser: Any, console: Console | str, name: str) -> Any:
    """A new browser context logged in as `name` on `console` (or its URL); returns its page."""
    base = console if isinstance(console, str) else console.url
    context = await browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{base}/")
    return page


async def shot(page: Any, name: str) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

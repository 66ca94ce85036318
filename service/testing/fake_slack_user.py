"""The other half of the Slack fake: Slack as a *client* of incidentd, sending what a user types.

Real Slack turns `/incident ack 42` into a signed form POST to the app's request
URL, and later accepts the app's `response_url` replies. `SlackUser` does the
same over HTTP with the real signing scheme, so the demo and end-to-end tests
drive incidentd exactly as a person in a channel would.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from service.testing.slack_signing import signed_command


@dataclass
class SlackUser:
    commands_url: str
    signing_secret: str
    user_id: str = "U0ONCALL"
    user_name: str = "oncall-alice"
    channel_name: str = "alerts"
    replies: list[dict[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> None:
        """Listen for `response_url` replies on a local port."""

        async def respond(request: web.Request) -> web.Response:
            body = await request.json()
            self.replies.append({"id": request.match_info["id"], "at": time.time(), "body": body})
            return web.Response(text="ok")

        app = web.Application()
        app.add_routes([web.post("/respond/{id}", respond)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def command(self, text: str, *, command: str = "/incident") -> tuple[int, dict[str, Any]]:
        """Type `/incident <text>`; returns the HTTP status and the immediate reply."""
        body, headers = signed_command(
            self.signing_secret,
            text,
            command=command,
            user_id=self.user_id,
            user_name=self.user_name,
            channel_name=self.channel_name,
            response_url=f"{self.url}/respond/{next(self._ids)}",
        )
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.commands_url, data=body, headers=headers) as response,
        ):
            text_body = await response.text()
            try:
                reply: dict[str, Any] = await response.json(content_type=None)
            except ValueError:
                reply = {"text": text_body}
            return response.status, reply

"""Shared pieces of the Slack tests: a signed client, a response_url receiver, a small escalation.

Not a conftest (those are the lead's): the Slack test modules import it by name.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import build_app
from service.components import Component, Context
from service.domain.incidents import Actor
from service.incidents.service import Conflict, IncidentService
from service.rca.component import build as build_action_items
from service.settings import Settings, load_settings
from service.slack_commands.component import build as build_slack
from service.slack_commands.escalation_port import ESCALATION_PORT
from service.slack_commands.runtime import SlackCommandsConfig
from service.testing.slack_signing import signed_command, signed_interaction

ROOT = Path(__file__).resolve().parents[2]
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PUBLIC_URL = "http://incidentd.test"
Client = AsyncTestClient[Litestar]


def slack_settings(secret: str | None = SECRET, command: str = "/incident") -> Settings:
    env = {"INCIDENTD_API_TOKENS": "alice=writer-token-1", "INCIDENTD_PUBLIC_URL": PUBLIC_URL}
    if secret:
        env["SLACK_SIGNING_SECRET"] = secret
    if command != "/incident":
        env["INCIDENTD_SLACK_COMMAND"] = command
    settings = load_settings(env)
    return msgspec.structs.replace(
        settings, rules_dir=ROOT / "rules", templates_dir=ROOT / "incident_templates", workers=False
    )


@dataclass(frozen=True)
class Targets:
    slack_users: list[str] = field(default_factory=list)
    slack_channels: list[str] = field(default_factory=list)
    pagerduty: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Level:
    number: int
    name: str
    delay: timedelta
    targets: Targets


@dataclass(frozen=True)
class Escalated:
    level: int
    level_name: str


LEVELS = [
    Level(1, "on-call engineer", timedelta(0), Targets(["@alice"], ["#alerts"], ["pd-primary"])),
    Level(2, "technical lead", timedelta(minutes=15), Targets(["<@U0LEAD>"], [], ["pd-leads"])),
]


class InTestEscalation:
    """The real escalation's contract, recorded as the escalation capability does: an `escalated` event."""

    def __init__(self, incidents: IncidentService) -> None:
        self._incidents = incidents
        self.labels_asked: list[dict[str, str]] = []

    async def escalate_now(self, incident_id: int, actor: Actor) -> Escalated:
        incident, events = await self._incidents.get(incident_id)
        if not incident.status.is_open:
            raise Conflict(f"{incident.human_id} is resolved; there is nobody left to page")
        level = min(sum(e.kind == "escalated" for e in events) + 2, len(LEVELS))
        await self._incidents.record(
            incident_id,
            "escalated",
            actor,
            {"level": level, "level_name": LEVELS[level - 1].name, "reason": "manual", "targets": {}},
        )
        return Escalated(level, LEVELS[level - 1].name)

    def oncall(self, labels: Mapping[str, str]) -> Sequence[Level]:
        self.labels_asked.append(dict(labels))
        return [] if labels.get("service") == "nothing" else LEVELS


def escalation_component(context: Context) -> Component:
    return Component(name="escalation", provides=[ESCALATION_PORT.given(InTestEscalation(context.incidents))])


def slack_app(
    database_url: str,
    *,
    secret: str | None = SECRET,
    with_escalation: bool = True,
    reply_within: float = 2.0,
    command: str = "/incident",
) -> Litestar:
    config = SlackCommandsConfig(reply_within=reply_within)
    components = [lambda context: build_slack(context, config), build_action_items]
    if with_escalation:
        components.append(escalation_component)
    return build_app(slack_settings(secret, command), database_url, components=components)


class Receiver:
    """A stand-in for Slack's response_url endpoint, on a real socket, recording what it got."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.base = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def _handle(self, request: web.Request) -> web.Response:
        await self.received.put((request.path, await request.json()))
        return web.Response(text="ok")

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    async def next(self, timeout: float = 10.0) -> tuple[str, dict[str, Any]]:
        return await asyncio.wait_for(self.received.get(), timeout)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def command(
    client: Client, text: str, *, secret: str = SECRET, timestamp: int | None = None, **fields: Any
) -> tuple[int, dict[str, Any]]:
    body, headers = signed_command(secret, text, timestamp=timestamp, **fields)
    response = await client.post("/slack/commands", content=body, headers=headers)
    return response.status_code, response.json() if response.content else {}


async def click(
    client: Client, payload: Mapping[str, Any], *, secret: str = SECRET, timestamp: int | None = None
) -> int:
    body, headers = signed_interaction(secret, payload, timestamp=timestamp)
    response = await client.post("/slack/interactions", content=body, headers=headers)
    return response.status_code

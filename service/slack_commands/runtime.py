"""The Slack door's per-process state and its two flows: a slash command and a button click.

A command is answered inside the request when it finishes within `reply_within` seconds
(2 s by default, well inside Slack's 3 s); otherwise the request answers "still working"
and the same task, left running, posts its answer to response_url. The task is never
cancelled: a write that is waiting on a lock still lands, and the person is told so.
Buttons always answer through response_url, because Slack only wants a quick 200 from them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import msgspec
import structlog
from litestar.connection import ASGIConnection

from service.adapters.postgres.database import Database
from service.cancellation import reraise_if_cancelling
from service.clock import Clock
from service.dependencies import Key
from service.domain.incidents import Action, parse_human_id
from service.incidents.service import INCIDENTS
from service.notifications.channels.slack.buttons import ACTION_ACK, ACTION_ESCALATE, ACTION_RESOLVE
from service.rca.action_items import ACTION_ITEMS
from service.rca.service import RCA
from service.silences.service import SILENCES
from service.slack_commands import parser
from service.slack_commands.escalation_port import ESCALATION_PORT
from service.slack_commands.followups import Followups
from service.slack_commands.handlers import Services, SlackUser, command_name, execute
from service.slack_commands.metrics import COMMANDS, DEFERRED
from service.slack_commands.replies import Reply, problem_reply, usage_reply
from service.slack_commands.signing import RequestVerifier

log = structlog.get_logger(__name__)

STILL_WORKING = Reply(":hourglass_flowing_sand: Still working on it; I'll answer here shortly.")
BUTTON_COMMANDS = {
    ACTION_ACK: lambda incident_id: parser.Transition(Action.ACKNOWLEDGE, incident_id),
    ACTION_RESOLVE: lambda incident_id: parser.Transition(Action.RESOLVE, incident_id),
    ACTION_ESCALATE: parser.Escalate,
}


class SlackCommandsConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Until these become Settings: `reply_within` must stay well under Slack's 3 s."""

    reply_within: float = 2.0
    response_url_timeout: int = 10


class SlackCommands:
    def __init__(
        self,
        *,
        signing_secret: str | None,
        command: str,
        public_url: str,
        clock: Clock,
        config: SlackCommandsConfig,
        db: Database,
    ) -> None:
        self.verifier = RequestVerifier(signing_secret, clock, db) if signing_secret else None
        self.command = command
        self.public_url = public_url
        self.clock = clock
        self.config = config
        self.followups = Followups(timeout=config.response_url_timeout)

    def services(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
        return Services(
            incidents=INCIDENTS.of(connection),
            rca=RCA.maybe(connection),
            escalation=ESCALATION_PORT.maybe(connection),
            public_url=self.public_url,
            clock=self.clock,
            command=self.command,
            silences=SILENCES.maybe(connection),
            action_items=ACTION_ITEMS.maybe(connection),
        )

    async def _execute(self, command: parser.Command, user: SlackUser, services: Services) -> Reply:
        name = command_name(command)
        try:
            reply, outcome = await execute(command, user, services)
        except Exception as exc:
            reraise_if_cancelling(exc)
            log.exception("slack_command_failed", command=name, user_id=user.user_id)
            COMMANDS.labels(command=name, outcome="error").inc()
            return problem_reply("that failed on our side and was logged; try again or use the web API")
        COMMANDS.labels(command=name, outcome=outcome).inc()
        log.info("slack_command", command=name, user_id=user.user_id, outcome=outcome)
        return reply

    async def answer_command(self, form: Mapping[str, str], services: Services) -> Reply:
        """The immediate reply to a slash command; anything slower continues through response_url."""
        if form.get("command", self.command) != self.command:
            return problem_reply(f"this endpoint answers {self.command}, not {form.get('command')}")
        try:
            command = parser.parse(form.get("text", ""))
        except parser.UsageError as exc:
            COMMANDS.labels(command=exc.usage.name if exc.usage else "unknown", outcome="usage").inc()
            return usage_reply(exc.problem, exc.usage, self.command)
        user = SlackUser(
            user_id=form.get("user_id", ""),
            user_name=form.get("user_name", "") or form.get("user_id", "unknown"),
            channel_id=form.get("channel_id", ""),
            channel_name=form.get("channel_name", ""),
        )
        task = asyncio.ensure_future(self._execute(command, user, services))
        done, _ = await asyncio.wait({task}, timeout=self.config.reply_within)
        if done:
            return task.result()
        DEFERRED.inc()
        self.followups.spawn(self._finish_later(task, form.get("response_url", "")), "slack-command")
        return STILL_WORKING

    async def _finish_later(self, task: asyncio.Future[Reply], response_url: str) -> None:
        reply = await task
        if response_url:
            await self.followups.deliver(response_url, reply)

    def start_button(self, payload: Mapping[str, Any], services: Services) -> None:
        """Run the buttons of a `block_actions` payload in the background; Slack gets its 200 at once."""
        user_data = payload.get("user") or {}
        channel = payload.get("channel") or {}
        user = SlackUser(
            user_id=str(user_data.get("id", "")),
            user_name=str(user_data.get("username") or user_data.get("name") or user_data.get("id", "")),
            channel_id=str(channel.get("id", "")),
            channel_name=str(channel.get("name", "")),
        )
        response_url = str(payload.get("response_url") or "")
        for action in payload.get("actions") or []:
            make = BUTTON_COMMANDS.get(str(action.get("action_id", "")))
            if make is None:
                continue  # another app's or a link button: nothing for us to do
            self.followups.spawn(
                self._button(make, str(action.get("value", "")), user, response_url, services), "slack-button"
            )

    async def _button(
        self, make: Any, value: str, user: SlackUser, response_url: str, services: Services
    ) -> None:
        try:
            command: parser.Command = make(parse_human_id(value))
        except ValueError:
            reply = problem_reply(f"this button carries no incident id ({value!r})")
        else:
            reply = await self._execute(command, user, services)
        if response_url:
            await self.followups.deliver(response_url, reply)


SLACK_COMMANDS: Key[SlackCommands] = Key("slack_commands")

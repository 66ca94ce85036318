"""Slack slash commands and buttons as a capability of the service (see service/components.py)."""

from __future__ import annotations

from service.components import Component, Context
from service.slack_commands.routes import slack_command, slack_interaction
from service.slack_commands.runtime import SLACK_COMMANDS, SlackCommands, SlackCommandsConfig


def build(context: Context, config: SlackCommandsConfig | None = None) -> Component:
    settings = context.settings
    runtime = SlackCommands(
        signing_secret=settings.slack_signing_secret,
        command=settings.slack_command,
        public_url=settings.public_url.rstrip("/"),
        clock=context.clock,
        config=config or SlackCommandsConfig(),
        db=context.db,
    )
    return Component(
        name="slack_commands",
        routes=[slack_command, slack_interaction],
        provides=[SLACK_COMMANDS.given(runtime)],
        on_shutdown=[runtime.followups.drain],
    )

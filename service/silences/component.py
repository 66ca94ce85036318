"""Wires silences and maintenance windows into the service: their use cases, routes and Slack notices."""

from __future__ import annotations

import asyncio

from service.components import Component, Context
from service.config.notification_policy_files import load_notification_policy
from service.domain.severity import Severity
from service.silences.announcer import announce
from service.silences.maintenance_api import MaintenanceController
from service.silences.service import SILENCES, Silences


def build(context: Context) -> Component:
    silences = Silences(context.db, context.muter, context.clock)
    policy_file = context.settings.rules_dir / "policy" / "notifications.yaml"
    # Every channel that hears about the least severe incidents hears about silences.
    channels = (
        load_notification_policy(policy_file).slack_channels(Severity.P3) if policy_file.exists() else []
    )

    async def notices(stop: asyncio.Event) -> None:
        await announce(stop, context.db, context.clock, channels)

    return Component(
        name="silences",
        workers=[("silence-notices", notices)] if channels else [],
        routes=[MaintenanceController],
        provides=[SILENCES.given(silences)],
    )

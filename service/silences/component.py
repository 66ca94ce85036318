"""Wires silences and maintenance windows into the service: their use cases, routes and Slack notices."""

from __future__ import annotations

import asyncio

from service.components import Component, Context
from service.domain.severity import Severity
from service.notifications.policy import load_notification_policy
from service.silences.announcer import announce
from service.silences.maintenance_api import MaintenanceController
from service.silences.service import Silences
from service.supervisor import Worker


def build(context: Context) -> Component:
    silences = Silences(context.db, context.muter, context.clock)
    policy_file = context.settings.policies / "notifications.yaml"
    # Every channel that hears about the least severe incidents hears about silences.
    channels = (
        load_notification_policy(policy_file).slack_channels(Severity.P3) if policy_file.exists() else []
    )

    async def notices(stop: asyncio.Event) -> None:
        await announce(stop, context.db, context.clock, channels)

    return Component(
        name="silences",
        workers=[Worker("silence-notices", notices, stall_after=None)] if channels else [],
        routes=[MaintenanceController],
        state={"silences": silences, "muter": context.muter},
    )

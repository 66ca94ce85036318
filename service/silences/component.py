"""Wires silences and maintenance windows into the service: their use cases, routes and Slack notices."""

from __future__ import annotations

from service.components import Component, Context
from service.silences.maintenance_api import MaintenanceController
from service.silences.service import Silences


def build(context: Context) -> Component:
    silences = Silences(context.db, context.muter, context.clock)
    return Component(
        name="silences",
        routes=[MaintenanceController],
        state={"silences": silences, "muter": context.muter},
    )

"""Wires pushed alerts into the service: the Alertmanager v2 API, the webhook receiver, the expiry worker."""

from __future__ import annotations

import asyncio
from typing import Any

from service.alerting import pushed_store
from service.alerting.alertmanager_api import ALERTS_OPEN_TO, STARTED_AT, AlertmanagerApi
from service.alerting.ingest import PUSHED_ALERTS, PushedAlerts
from service.alerting.mute_sweeping import sweep_on_mute_changes
from service.alerting.webhook_receiver import alertmanager_webhook
from service.components import Component, Context
from service.config.pushed_policy import require_pushed_policy
from service.domain.incidents import Incident
from service.supervisor import Worker


def build(context: Context) -> Component:
    policy = require_pushed_policy(context.settings.policies)
    pushed = PushedAlerts(context.db, context.incidents, context.muter, context.clock, policy=policy)

    async def expire(stop: asyncio.Event) -> None:
        """Lapse alerts past endsAt, page released ones, re-judge incidents when mutes moved."""
        await sweep_on_mute_changes(stop, context, pushed.sweep, before=pushed.expire)

    async def alerts_of(incident: Incident) -> list[dict[str, Any]] | None:
        async with context.db.connection() as conn:
            rows = await pushed_store.for_incident(conn, incident.id)
        return rows or None

    return Component(
        name="pushed-alerts",
        workers=[Worker("pushed-alert-expiry", expire, stall_after=60.0)],
        routes=[AlertmanagerApi, alertmanager_webhook],
        detail_contributors={"pushed_alerts": alerts_of},
        provides=[
            PUSHED_ALERTS.given(pushed),
            ALERTS_OPEN_TO.given(context.settings.alerts_open_to),
            STARTED_AT.given(context.clock()),
        ],
    )

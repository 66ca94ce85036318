"""Wires pushed alerts into the service: the Alertmanager v2 API, the webhook receiver, the expiry worker."""

from __future__ import annotations

import asyncio
from typing import Any

from service.alerting import pushed_store
from service.alerting.alertmanager_api import AlertmanagerApi
from service.alerting.ingest import PushedAlerts
from service.alerting.webhook_receiver import alertmanager_webhook
from service.components import Component, Context
from service.silences.sweeping import sweep_on_mute_changes
from service.supervisor import Worker


def build(context: Context) -> Component:
    pushed = PushedAlerts(context.db, context.incidents, context.muter, context.clock)

    async def expire(stop: asyncio.Event) -> None:
        """Lapse alerts past endsAt, page released ones, re-judge incidents when mutes moved."""
        await sweep_on_mute_changes(stop, context, pushed.sweep, before=pushed.expire)

    async def alerts_of(incident: Any) -> dict[str, Any]:
        async with context.db.connection() as conn:
            rows = await pushed_store.for_incident(conn, incident.id)
        return {"pushed_alerts": rows} if rows else {}

    return Component(
        name="pushed-alerts",
        workers=[Worker("pushed-alert-expiry", expire, stall_after=60.0)],
        routes=[AlertmanagerApi, alertmanager_webhook],
        detail_contributors=[alerts_of],
        state={
            "pushed_alerts": pushed,
            "alerts_open_to": context.settings.alerts_open_to,
            "started_at": context.clock(),
        },
    )

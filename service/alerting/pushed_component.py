"""Wires pushed alerts into the service: the Alertmanager v2 API, the webhook receiver, the expiry worker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from service.adapters.postgres.database import DatabaseUnavailable
from service.alerting import pushed_store
from service.alerting.alertmanager_api import AlertmanagerApi
from service.alerting.ingest import PushedAlerts
from service.alerting.webhook_receiver import alertmanager_webhook
from service.components import Component, Context
from service.supervisor import sleep_or_stop

EXPIRY_EVERY = 1.0
FULL_SWEEP_EVERY = 15.0


def build(context: Context) -> Component:
    pushed = PushedAlerts(context.db, context.incidents, context.muter, context.clock)

    async def expire(stop: asyncio.Event) -> None:
        """Each second: lapse alerts past endsAt, page released ones, re-judge incidents when mutes moved."""
        last: tuple[object, ...] | None = None
        judged_at = 0.0
        while not stop.is_set():
            try:
                await pushed.expire()
                async with context.db.connection() as conn:
                    digest = (await context.muter.snapshot(conn, context.clock())).digest()
                full = digest != last or time.monotonic() - judged_at > FULL_SWEEP_EVERY
                await pushed.sweep(full=full)
                if full:
                    last, judged_at = digest, time.monotonic()
            except DatabaseUnavailable:
                pass  # readiness shows it; try again next second
            await sleep_or_stop(stop, EXPIRY_EVERY)

    async def alerts_of(incident: Any) -> dict[str, Any]:
        async with context.db.connection() as conn:
            rows = await pushed_store.for_incident(conn, incident.id)
        return {"pushed_alerts": rows} if rows else {}

    return Component(
        name="pushed-alerts",
        workers=[("pushed-alert-expiry", expire)],
        routes=[AlertmanagerApi, alertmanager_webhook],
        detail_contributors=[alerts_of],
        state={
            "pushed_alerts": pushed,
            "alerts_open_to": context.settings.alerts_open_to,
            "started_at": context.clock(),
        },
    )

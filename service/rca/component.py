"""Action items as a capability: their API and the reminder worker (the RCA service is built in app.py)."""

from __future__ import annotations

import msgspec

from service.components import Component, Context
from service.domain.incidents import Incident
from service.rca.action_item_routes import AllActionItems, IncidentActionItems, ItemView
from service.rca.action_items import ACTION_ITEMS, REMIND_EVERY, ActionItems
from service.supervisor import Worker


def build(context: Context) -> Component:
    items = ActionItems(context.db, context.incidents, context.clock)

    async def action_items(incident: Incident) -> list[dict[str, object]]:
        """extras.action_items of an incident's detail (the API and the console page)."""
        return [msgspec.to_builtins(ItemView.of(i)) for i in await items.for_incident(incident.id)]

    return Component(
        name="action_items",
        workers=[Worker("action-item-reminders", items.loop, stall_after=3 * REMIND_EVERY)],
        routes=[IncidentActionItems, AllActionItems],
        provides=[ACTION_ITEMS.given(items)],
        detail_contributors={"action_items": action_items},
    )

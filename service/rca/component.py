"""Action items as a capability: their API and the reminder worker (the RCA service is built in app.py)."""

from __future__ import annotations

from service.components import Component, Context
from service.rca.action_item_routes import AllActionItems, IncidentActionItems
from service.rca.action_items import ACTION_ITEMS, REMIND_EVERY, ActionItems
from service.supervisor import Worker


def build(context: Context) -> Component:
    items = ActionItems(context.db, context.incidents, context.clock)
    return Component(
        name="action_items",
        workers=[Worker("action-item-reminders", items.loop, stall_after=3 * REMIND_EVERY)],
        routes=[IncidentActionItems, AllActionItems],
        provides=[ACTION_ITEMS.given(items)],
    )

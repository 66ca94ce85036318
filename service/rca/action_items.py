"""Action items of incidents: create, change, list, and remind people when they fall due.

Every change is also a timeline event on its incident (`action_item_added`, `action_item_updated`,
`action_item_due`), written in the same transaction as the row, so the console, the RCA and Slack
see the same history. A reminder is an `action_item_due` event: the notifications observer turns it
into a reply in the incident's Slack thread (or, for an incident Slack never heard of, a message in a
channel of the notification policy) through the outbox, in the transaction that marks the item as
reminded, so a reminder is queued exactly once across replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date, datetime
from typing import Any

import structlog

from service.adapters.postgres.database import Database, DatabaseUnavailable
from service.clock import Clock
from service.dependencies import Key
from service.domain.action_items import (
    ActionItem,
    ItemStatus,
    default_due,
    link_problem,
    owner_problem,
    title_problem,
)
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import ActionItemEvent
from service.domain.incidents import Actor, Incident
from service.incidents.service import IncidentNotFound, IncidentService, IncidentTransaction
from service.rca import action_items_store as store
from service.supervisor import progress, sleep_or_stop

log = structlog.get_logger(__name__)

REMIND_EVERY = 60.0
REMIND_BATCH = 100
REMINDER_ACTOR = Actor("follow-ups", "system")


class ItemNotFound(Exception):
    def __init__(self, item_id: int) -> None:
        super().__init__(f"action item AI-{item_id} not found")
        self.item_id = item_id


class InvalidItem(Exception):
    """A field that cannot be stored (HTTP 400); the message names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def _check(field: str, problem: str | None) -> None:
    if problem is not None:
        raise InvalidItem(field, problem)


def _event_data(item: ActionItem, *, changed: str | None = None, stage: str | None = None) -> dict[str, Any]:
    told = ActionItemEvent(
        item=item.ref,
        title=item.title,
        owner=item.owner,
        due=item.due_on.isoformat(),
        status=item.status.value,
        changed=changed,
        stage=stage,
    )
    return told.as_data()


class ActionItems:
    def __init__(self, db: Database, incidents: IncidentService, clock: Clock) -> None:
        self._db = db
        self._incidents = incidents
        self._clock = clock

    async def _incident(self, tx: IncidentTransaction, incident_id: int) -> Incident:
        incident = await self._incidents.find_in(tx, incident_id)
        if incident is None:
            raise IncidentNotFound(incident_id)
        return incident

    async def create(
        self,
        incident_id: int,
        *,
        title: str,
        actor: Actor,
        owner: str = "",
        due_on: date | None = None,
        link: str = "",
    ) -> ActionItem:
        async with self._incidents.transaction() as tx:
            return await self.create_in(
                tx, incident_id, title=title, actor=actor, owner=owner, due_on=due_on, link=link
            )

    async def create_in(
        self,
        tx: IncidentTransaction,
        incident_id: int,
        *,
        title: str,
        actor: Actor,
        owner: str = "",
        due_on: date | None = None,
        link: str = "",
    ) -> ActionItem:
        """Create an item in the caller's transaction (an RCA save stores typed items with its version)."""
        title, owner, link = title.strip(), owner.strip(), link.strip()
        _check("title", title_problem(title))
        _check("owner", owner_problem(owner))
        _check("link", link_problem(link))
        now = self._clock()
        incident = await self._incident(tx, incident_id)
        due = due_on or default_due(incident.resolved_at or now)
        item = await store.insert(
            tx.conn,
            incident_id=incident_id,
            title=title,
            owner=owner,
            due_on=due,
            link=link,
            created_by=actor.name,
            at=now,
        )
        await self._incidents.record_in(tx, incident, EventKind.ACTION_ITEM_ADDED, actor, _event_data(item))
        log.info("action_item_added", item=item.ref, incident_id=incident_id, actor=str(actor))
        return item

    async def update(
        self,
        item_id: int,
        actor: Actor,
        *,
        title: str | None = None,
        owner: str | None = None,
        due_on: date | None = None,
        status: ItemStatus | None = None,
        link: str | None = None,
    ) -> ActionItem:
        changes: dict[str, Any] = {}
        if title is not None:
            _check("title", title_problem(title.strip()))
            changes["title"] = title.strip()
        if owner is not None:
            _check("owner", owner_problem(owner.strip()))
            changes["owner"] = owner.strip()
        if link is not None:
            _check("link", link_problem(link.strip()))
            changes["link"] = link.strip()
        if due_on is not None:
            changes["due_on"] = due_on
        now = self._clock()
        async with self._incidents.transaction() as tx:
            current = await store.get(tx.conn, item_id, lock=True)
            if current is None:
                raise ItemNotFound(item_id)
            changes = {k: v for k, v in changes.items() if getattr(current, k) != v}
            if status is not None and status is not current.status:
                changes["status"] = status.value
                changes["closed_at"] = None if status is ItemStatus.OPEN else now
            if not changes:
                return current
            item = await store.update(tx.conn, item_id, changes, now)
            incident = await self._incident(tx, item.incident_id)
            changed = sorted(k for k in changes if k != "closed_at")
            await self._incidents.record_in(
                tx,
                incident,
                EventKind.ACTION_ITEM_UPDATED,
                actor,
                _event_data(item, changed=", ".join(changed)),
            )
        return item

    async def get(self, item_id: int) -> ActionItem:
        async with self._db.connection() as conn:
            item = await store.get(conn, item_id)
        if item is None:
            raise ItemNotFound(item_id)
        return item

    async def for_incident(self, incident_id: int) -> list[ActionItem]:
        async with self._db.connection() as conn:
            if await conn.fetchval("SELECT 1 FROM incidents WHERE id = $1", incident_id) is None:
                raise IncidentNotFound(incident_id)
            return await store.for_incident(conn, incident_id)

    async def listing(self, statuses: list[ItemStatus] | None, limit: int = 200) -> list[ActionItem]:
        async with self._db.connection() as conn:
            return await store.listing(conn, statuses, limit)

    async def due(self, now: datetime | None = None) -> list[ActionItem]:
        async with self._db.connection() as conn:
            return await store.due_action_items(conn, now or self._clock())

    async def remind_once(self) -> int:
        """Queue every reminder owed now; returns how many (0 when another replica took them)."""
        now = self._clock()
        async with self._incidents.transaction() as tx:
            claimed = await store.claim_reminders(tx.conn, now, REMIND_BATCH)
            for item, stage in claimed:
                incident = await self._incident(tx, item.incident_id)
                data = _event_data(item, stage=stage.value)
                await self._incidents.record_in(tx, incident, EventKind.ACTION_ITEM_DUE, REMINDER_ACTOR, data)
        if claimed:
            log.info("action_item_reminders", count=len(claimed))
        return len(claimed)

    async def loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(DatabaseUnavailable):  # readiness shows it; the next beat tries again
                while await self.remind_once() == REMIND_BATCH:
                    progress()
            progress()
            await sleep_or_stop(stop, REMIND_EVERY)


ACTION_ITEMS: Key[ActionItems] = Key("action_items")

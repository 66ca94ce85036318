"""Many incident changes in a few statements: the alert storm's openings and a backlog's escalations.

Each writes exactly the rows the one-by-one paths of `IncidentService` write (tests compare them),
and every observer sees the changes together through its `observe_many` when it has one, else one
by one, inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from service.domain.event_kinds import EventKind
from service.domain.event_payloads import Declared
from service.domain.incidents import Actor, Incident
from service.domain.severity import Severity
from service.incidents import store as repo
from service.incidents.transaction import IncidentChange, IncidentTransaction

Observer = Callable[[IncidentTransaction, IncidentChange], Awaitable[None]]


class DeclareRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One `declare` among many (`IncidentService.declare_many_in`)."""

    title: str
    severity: Severity
    dedup_key: str
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    description: str = ""
    details: dict[str, Any] = msgspec.field(default_factory=dict)


def declared_data(
    title: str, severity: Severity, labels: dict[str, str], details: dict[str, Any]
) -> dict[str, Any]:
    declared = Declared(title=title, severity=severity.label, labels=dict(labels))
    return {**declared.as_data(), "labels": dict(labels), **details}


async def open_many(
    tx: IncidentTransaction,
    requests: Sequence[DeclareRequest],
    actor: Actor,
    now: datetime,
    observers: Sequence[Observer],
) -> list[IncidentChange]:
    """The requests whose key has no open incident, opened with one insert for the incidents and one
    for their `declared` events; a key repeated in `requests` opens once (the rest are the caller's)."""
    rows = [(r.dedup_key, r.title, r.description, r.severity, dict(r.labels)) for r in requests]
    created = await repo.insert_many_if_no_open_duplicate(
        tx.conn, rows, created_by=actor.name, source=actor.source, at=now
    )
    fresh: dict[str, DeclareRequest] = {}
    for request in requests:
        if request.dedup_key in created:
            fresh.setdefault(request.dedup_key, request)
    declared = [
        (created[r.dedup_key].id, EventKind.DECLARED, declared_data(r.title, r.severity, r.labels, r.details))
        for r in fresh.values()
    ]
    events = await repo.append_events_many(tx.conn, declared, at=now, actor=actor.name, source=actor.source)
    by_incident = {e.incident_id: e for e in events}
    changes = []
    for request in fresh.values():
        incident = created[request.dedup_key]
        change = IncidentChange(
            incident=incident, previous=None, events=(by_incident[incident.id],), actor=actor
        )
        tx.remember(change)
        changes.append(change)
    await observe_many(tx, changes, observers)
    return changes


async def record_many(
    tx: IncidentTransaction,
    records: Sequence[tuple[Incident, str, dict[str, Any]]],
    actor: Actor,
    now: datetime,
    observers: Sequence[Observer],
) -> list[IncidentChange]:
    """One event for each of many incidents, all at `now`."""
    if not records:
        return []
    ids = [incident.id for incident, _, _ in records]
    if len(set(ids)) != len(ids):
        raise ValueError("record_many_in takes one event per incident")
    await repo.touch_many(tx.conn, ids, now)
    written = await repo.append_events_many(
        tx.conn,
        [(incident.id, kind, dict(data)) for incident, kind, data in records],
        at=now,
        actor=actor.name,
        source=actor.source,
    )
    by_incident = {e.incident_id: e for e in written}
    changes = []
    for incident, _, _ in records:
        change = IncidentChange(
            incident=incident, previous=incident, events=(by_incident[incident.id],), actor=actor
        )
        tx.remember(change)
        changes.append(change)
    await observe_many(tx, changes, observers)
    return changes


async def observe_many(
    tx: IncidentTransaction, changes: Sequence[IncidentChange], observers: Sequence[Observer]
) -> None:
    for observer in observers:
        many = getattr(observer, "observe_many", None)
        if many is not None:
            await many(tx, changes)
        else:
            for change in changes:
                await observer(tx, change)

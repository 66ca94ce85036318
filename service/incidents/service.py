"""Incident use cases, each one PostgreSQL transaction.

Observers run inside that same transaction, which is how escalation timers and
notification intents are written atomically with the change that caused them:
if the process dies after commit, they are there; if it dies before, nothing is.
Every kind of change (a transition, a new severity, a note, a receipt) goes
through `_apply`, so observers and after-commit listeners see all of them. The module is
longer than most because it is that one door; the set-based paths live in `batches.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import structlog

from service.adapters.postgres.database import Database
from service.clock import Clock, system_clock
from service.dependencies import Key
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import (
    Assigned,
    Note,
    Retitled,
    SeverityChanged,
    StatusChanged,
    data_of,
)
from service.domain.incidents import (
    ACTION_EVENT,
    Action,
    Actor,
    Incident,
    Status,
    TimelineEvent,
    next_status,
    severity_change_kind,
)
from service.domain.severity import Severity
from service.incidents import batches
from service.incidents import store as repo
from service.incidents.batches import DeclareRequest, Observer
from service.incidents.outcomes import Conflict, DeclareResult, IncidentNotFound, TransitionListener
from service.incidents.transaction import IncidentChange, IncidentTransaction

__all__ = ["INCIDENTS", "Conflict", "DeclareRequest", "DeclareResult", "IncidentChange", "IncidentNotFound"]
__all__ += ["IncidentService", "IncidentTransaction", "Observer", "TransitionListener"]

log = structlog.get_logger(__name__)
Events = Sequence[tuple[str, dict[str, Any]]]


class IncidentService:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = system_clock,
        observers: Sequence[Observer] = (),
        after_commit: Sequence[TransitionListener] = (),
    ) -> None:
        self._db = db
        self._clock = clock
        self._observers: list[Observer] = list(observers)
        self._after_commit: list[TransitionListener] = list(after_commit)

    @property
    def db(self) -> Database:
        return self._db

    @property
    def clock(self) -> Clock:
        return self._clock

    def add_observer(self, observer: Observer) -> None:
        """Register work that must commit or roll back together with every incident change."""
        self._observers.append(observer)

    def add_after_commit(self, listener: TransitionListener) -> None:
        """Register cheap in-process reactions (metrics, wake-ups) that run once a change is committed."""
        self._after_commit.append(listener)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[IncidentTransaction]:
        """One PostgreSQL transaction for the `*_in` methods and the caller's own rows.

        After-commit listeners run for every change made in it, once it has committed.
        """
        async with self._db.transaction() as conn:
            tx = IncidentTransaction(conn)
            yield tx
        for change in tx.changes:
            self._committed(change)

    def _committed(self, change: IncidentChange) -> None:
        for listener in self._after_commit:
            try:
                listener(change)
            except Exception:  # a metrics hiccup must never undo or hide a committed change
                log.exception("after_commit_listener_failed")

    async def _apply(
        self,
        tx: IncidentTransaction,
        previous: Incident | None,
        incident: Incident,
        events: Events,
        actor: Actor,
        now: datetime,
    ) -> IncidentChange:
        """The one tail of every change: its events, its observers, and a place in the commit."""
        written = [
            await repo.append_event(
                tx.conn,
                incident_id=incident.id,
                at=now,
                kind=kind,
                actor=actor.name,
                source=actor.source,
                data=data,
            )
            for kind, data in events
        ]
        change = IncidentChange(incident=incident, previous=previous, events=tuple(written), actor=actor)
        tx.remember(change)  # before the observers, so listeners hear it before what observers add
        for observer in self._observers:
            await observer(tx, change)
        return change

    async def declare(
        self,
        *,
        title: str,
        severity: Severity,
        actor: Actor,
        dedup_key: str | None = None,
        labels: dict[str, str] | None = None,
        description: str = "",
        details: dict[str, Any] | None = None,
    ) -> DeclareResult:
        """Open an incident, or attach to the open one holding the same dedup key.

        Attaching never lowers severity; a higher one raises it, and a mitigated
        incident that fires again goes back to triggered: the problem is back.
        """
        async with self.transaction() as tx:
            result, _ = await self.declare_in(
                tx,
                title=title,
                severity=severity,
                actor=actor,
                dedup_key=dedup_key,
                labels=labels,
                description=description,
                details=details,
            )
        return result

    async def declare_in(
        self,
        tx: IncidentTransaction,
        *,
        title: str,
        severity: Severity,
        actor: Actor,
        dedup_key: str | None = None,
        labels: dict[str, str] | None = None,
        description: str = "",
        details: dict[str, Any] | None = None,
    ) -> tuple[DeclareResult, IncidentChange]:
        """`declare` inside the caller's transaction, so a caller's own state commits with the incident."""
        labels = dict(labels or {})
        details = dict(details or {})
        now = self._clock()
        key = dedup_key or await repo.fresh_dedup_key(tx.conn)
        while True:
            created = await repo.insert_if_no_open_duplicate(
                tx.conn,
                dedup_key=key,
                title=title,
                description=description,
                severity=severity,
                labels=labels,
                created_by=actor.name,
                source=actor.source,
                at=now,
            )
            if created is not None:
                data = batches.declared_data(title, severity, labels, details)
                change = await self._apply(tx, None, created, [(EventKind.DECLARED, data)], actor, now)
                return DeclareResult(created, True), change
            existing = await repo.lock_open_by_dedup_key(tx.conn, key)
            if existing is None:
                continue  # resolved between our insert and our lock; try the insert again
            change = await self._attach(tx, existing, severity, actor, now, details)
            return DeclareResult(change.incident, False), change

    async def declare_many_in(
        self, tx: IncidentTransaction, requests: Sequence[DeclareRequest], actor: Actor
    ) -> list[DeclareResult]:
        """`declare_in` for many, in request order: those that open a new incident (an alert storm) in
        a few statements for all (`batches.open_many`); a request whose key is already open (or
        repeated) takes `declare_in`'s one-by-one path, so attaching, raising and retriggering behave
        exactly as there."""
        changes = await batches.open_many(tx, requests, actor, self._clock(), self._observers)
        results: list[DeclareResult] = []
        opened = {c.incident.dedup_key: c.incident for c in changes}
        for request in requests:
            new = opened.pop(request.dedup_key) if request.dedup_key in opened else None
            if new is not None:
                results.append(DeclareResult(new, True))
                continue
            result, _ = await self.declare_in(
                tx,
                title=request.title,
                severity=request.severity,
                actor=actor,
                dedup_key=request.dedup_key,
                labels=request.labels,
                description=request.description,
                details=request.details,
            )
            results.append(result)
        return results

    async def _attach(
        self,
        tx: IncidentTransaction,
        existing: Incident,
        severity: Severity,
        actor: Actor,
        now: datetime,
        details: dict[str, Any],
    ) -> IncidentChange:
        updated = msgspec.structs.replace(existing, updated_at=now)
        attached = {"severity": severity.label, **details}
        events: list[tuple[str, dict[str, Any]]] = [(EventKind.ATTACHED, attached)]
        if severity < existing.severity:
            updated = msgspec.structs.replace(updated, severity=severity)
            raised = SeverityChanged(from_=existing.severity.label, to=severity.label)
            events.append((EventKind.SEVERITY_RAISED, data_of(raised, details)))
        if existing.status is Status.MITIGATED:
            updated = msgspec.structs.replace(updated, status=Status.TRIGGERED, mitigated_at=None)
            events.append((EventKind.RETRIGGERED, details))
        await repo.update(tx.conn, updated)
        return await self._apply(tx, existing, updated, events, actor, now)

    async def lock_in(self, tx: IncidentTransaction, incident_id: int) -> Incident:
        """Lock one incident for the rest of the caller's transaction; IncidentNotFound if there is none."""
        incident = await repo.lock(tx.conn, incident_id)
        if incident is None:
            raise IncidentNotFound(incident_id)
        return incident

    async def find_locked_in(self, tx: IncidentTransaction, incident_id: int) -> Incident | None:
        """Lock one incident for the rest of the caller's transaction, if it still exists."""
        return await repo.lock(tx.conn, incident_id)

    async def lock_open_in(self, tx: IncidentTransaction, dedup_key: str) -> Incident | None:
        """Lock the open incident holding this dedup key, if there is one."""
        return await repo.lock_open_by_dedup_key(tx.conn, dedup_key)

    async def lock_open_many_in(
        self, tx: IncidentTransaction, dedup_keys: Sequence[str], *, shared: bool = False
    ) -> dict[str, Incident]:
        """Lock the open incidents holding these dedup keys, by key, in one lock order across replicas.
        `shared`: only keep them from changing (many batches may hold that at once), e.g. to link alerts
        to them; a change made after it upgrades the lock."""
        return await repo.lock_open_by_dedup_keys(tx.conn, dedup_keys, shared=shared)

    async def lock_free_in(self, tx: IncidentTransaction, ids: Sequence[int]) -> dict[int, Incident]:
        """Lock those of these incidents nobody else is changing now, skipping (not waiting for) the rest."""
        return await repo.lock_free(tx.conn, ids)

    async def find_in(self, tx: IncidentTransaction, incident_id: int) -> Incident | None:
        return await repo.get(tx.conn, incident_id)

    async def timeline_in(self, tx: IncidentTransaction, incident_id: int) -> list[TimelineEvent]:
        return await repo.timeline(tx.conn, incident_id)

    async def act(
        self,
        incident_id: int,
        action: Action,
        actor: Actor,
        *,
        note: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Incident:
        """Apply a lifecycle action; an invalid one raises InvalidTransition and writes nothing."""
        async with self.transaction() as tx:
            change = await self.act_in(tx, incident_id, action, actor, note=note, details=details)
        return change.incident

    async def act_in(
        self,
        tx: IncidentTransaction,
        incident_id: int,
        action: Action,
        actor: Actor,
        *,
        note: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> IncidentChange:
        """`act` inside the caller's transaction."""
        current = await self.lock_in(tx, incident_id)
        target = next_status(action, current.status)
        now = self._clock()
        updated = msgspec.structs.replace(current, status=target, updated_at=now)
        if action is Action.ACKNOWLEDGE:
            updated = msgspec.structs.replace(updated, acknowledged_at=now)
        elif action is Action.UNACKNOWLEDGE:
            updated = msgspec.structs.replace(updated, acknowledged_at=None)
        elif action is Action.MITIGATE:
            updated = msgspec.structs.replace(updated, mitigated_at=now)
        elif action is Action.RESOLVE:
            updated = msgspec.structs.replace(updated, resolved_at=now)
        elif action is Action.REOPEN:
            updated = msgspec.structs.replace(
                updated, acknowledged_at=None, mitigated_at=None, resolved_at=None
            )
        try:
            async with tx.conn.transaction():
                await repo.update(tx.conn, updated)
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"cannot reopen {current.human_id}: another open incident already holds its dedup key"
            ) from None
        told = StatusChanged(from_=current.status.value, to=target.value, note=note or None)
        data = data_of(told, details)
        return await self._apply(tx, current, updated, [(ACTION_EVENT[action], data)], actor, now)

    async def change_severity(
        self,
        incident_id: int,
        severity: Severity,
        actor: Actor,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Incident:
        async with self.transaction() as tx:
            current = await self.lock_in(tx, incident_id)
            kind = severity_change_kind(current.severity, severity)
            if kind is None:
                raise Conflict(f"{current.human_id} is already {severity.label}")
            if not current.status.is_open:
                raise Conflict(f"{current.human_id} is resolved; reopen it before changing its severity")
            now = self._clock()
            updated = msgspec.structs.replace(current, severity=severity, updated_at=now)
            await repo.update(tx.conn, updated)
            changed = SeverityChanged(from_=current.severity.label, to=severity.label, reason=reason or None)
            data = data_of(changed, details)
            await self._apply(tx, current, updated, [(kind, data)], actor, now)
        return updated

    async def retitle_in(
        self, tx: IncidentTransaction, incident_id: int, title: str, actor: Actor
    ) -> IncidentChange | None:
        """Rename an incident the rules opened (a person's own title is never replaced); None when the
        title is already that or a person opened it."""
        current = await self.lock_in(tx, incident_id)
        if current.title == title or current.source != actor.source or not current.status.is_open:
            return None
        now = self._clock()
        updated = msgspec.structs.replace(current, title=title, updated_at=now)
        await repo.update(tx.conn, updated)
        data = Retitled(from_=current.title, to=title).as_data()
        return await self._apply(tx, current, updated, [(EventKind.RETITLED, data)], actor, now)

    async def assign(self, incident_id: int, assignee: str, actor: Actor) -> Incident:
        async with self.transaction() as tx:
            current = await self.lock_in(tx, incident_id)
            if current.assignee == assignee:
                raise Conflict(f"{current.human_id} is already assigned to {assignee}")
            now = self._clock()
            updated = msgspec.structs.replace(current, assignee=assignee, updated_at=now)
            await repo.update(tx.conn, updated)
            data = Assigned(from_=current.assignee, to=assignee).as_data()
            if current.assignee is None:
                data["from"] = None  # as it always was: a first assignment says from nobody
            await self._apply(tx, current, updated, [(EventKind.ASSIGNED, data)], actor, now)
        return updated

    async def add_note(self, incident_id: int, text: str, actor: Actor) -> TimelineEvent:
        return await self.record(incident_id, EventKind.NOTE, actor, Note(text=text).as_data())

    async def record(
        self, incident_id: int, kind: str, actor: Actor, data: dict[str, Any] | None = None
    ) -> TimelineEvent:
        """Append a timeline event that changes no field (a note, a delivery receipt, an alert value)."""
        async with self.transaction() as tx:
            current = await self.lock_in(tx, incident_id)
            change = await self.record_in(tx, current, kind, actor, data)
        return change.events[0]

    async def record_in(
        self,
        tx: IncidentTransaction,
        incident: Incident,
        kind: str,
        actor: Actor,
        data: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
    ) -> IncidentChange:
        """Same as `record`, inside a transaction the caller already holds (workers use this).

        `at`: the moment the caller decided on, when other rows it writes are timed from it too."""
        now = at or self._clock()
        await repo.touch(tx.conn, incident.id, now)
        return await self._apply(tx, incident, incident, [(kind, dict(data or {}))], actor, now)

    async def record_many_in(
        self,
        tx: IncidentTransaction,
        records: Sequence[tuple[Incident, str, dict[str, Any]]],
        actor: Actor,
        *,
        at: datetime | None = None,
    ) -> list[IncidentChange]:
        """`record_in` for many incidents (one event each, all at one moment) in two statements."""
        return await batches.record_many(tx, records, actor, at or self._clock(), self._observers)

    async def timelines_in(
        self, tx: IncidentTransaction, incident_ids: Sequence[int]
    ) -> dict[int, list[TimelineEvent]]:
        return await repo.timelines(tx.conn, incident_ids)

    async def open_counts(self) -> dict[Severity, int]:
        async with self._db.connection() as conn:
            return await repo.open_counts_by_severity(conn)

    async def find(self, incident_id: int) -> Incident | None:
        async with self._db.connection() as conn:
            return await repo.get(conn, incident_id)

    async def get(self, incident_id: int) -> tuple[Incident, list[TimelineEvent]]:
        async with self._db.connection() as conn:
            incident = await repo.get(conn, incident_id)
            if incident is None:
                raise IncidentNotFound(incident_id)
            return incident, await repo.timeline(conn, incident_id)

    async def list(
        self,
        *,
        statuses: list[Status] | None = None,
        severities: list[Severity] | None = None,
        since: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[Incident]:
        async with self._db.connection() as conn:
            return await repo.search(
                conn,
                statuses=[s.value for s in statuses] if statuses else None,
                severities=[int(s) for s in severities] if severities else None,
                since=since,
                before_id=before_id,
                limit=limit,
            )


INCIDENTS: Key[IncidentService] = Key("incidents")

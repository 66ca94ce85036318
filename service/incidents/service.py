"""Incident use cases, each one PostgreSQL transaction.

Observers run inside that same transaction, which is how escalation timers and
notification intents are written atomically with the change that caused them:
if the process dies after commit, they are there; if it dies before, nothing is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import structlog

from service.adapters.postgres.database import Database
from service.clock import Clock, system_clock
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
from service.incidents import store as repo

log = structlog.get_logger(__name__)


class IncidentNotFound(Exception):
    def __init__(self, incident_id: int) -> None:
        super().__init__(f"incident {incident_id} not found")
        self.incident_id = incident_id


class Conflict(Exception):
    """The request is well-formed but contradicts the current state (HTTP 409)."""


class IncidentChange(msgspec.Struct, frozen=True, kw_only=True):
    """What one use case did: the incident before and after, and the events it wrote."""

    incident: Incident
    previous: Incident | None
    events: tuple[TimelineEvent, ...]
    actor: Actor

    def has(self, kind: str) -> bool:
        return any(e.kind == kind for e in self.events)


Observer = Callable[[asyncpg.Connection, IncidentChange], Awaitable[None]]
TransitionListener = Callable[[IncidentChange], None]


class DeclareResult(msgspec.Struct, frozen=True):
    incident: Incident
    created: bool


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

    async def _publish(self, conn: asyncpg.Connection, change: IncidentChange) -> None:
        for observer in self._observers:
            await observer(conn, change)

    def _committed(self, change: IncidentChange) -> None:
        for listener in self._after_commit:
            try:
                listener(change)
            except Exception:  # a metrics hiccup must never undo or hide a committed change
                log.exception("after_commit_listener_failed")

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
        async with self._db.transaction() as conn:
            result, change = await self.declare_in(
                conn,
                title=title,
                severity=severity,
                actor=actor,
                dedup_key=dedup_key,
                labels=labels,
                description=description,
                details=details,
            )
        self._committed(change)
        return result

    async def declare_in(
        self,
        conn: asyncpg.Connection,
        *,
        title: str,
        severity: Severity,
        actor: Actor,
        dedup_key: str | None = None,
        labels: dict[str, str] | None = None,
        description: str = "",
        details: dict[str, Any] | None = None,
    ) -> tuple[DeclareResult, IncidentChange]:
        """`declare` inside the caller's transaction, so a caller's own state commits with the incident.

        The caller must pass the returned change to `committed` once its transaction commits.
        """
        labels = dict(labels or {})
        details = dict(details or {})
        now = self._clock()
        key = dedup_key or await self._fresh_key(conn)
        while True:
            created = await repo.insert_if_no_open_duplicate(
                conn,
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
                event = await self._event(
                    conn,
                    created.id,
                    now,
                    "declared",
                    actor,
                    {"title": title, "severity": severity.label, "labels": labels, **details},
                )
                change = IncidentChange(incident=created, previous=None, events=(event,), actor=actor)
                await self._publish(conn, change)
                result = DeclareResult(created, True)
                break
            existing = await repo.lock_open_by_dedup_key(conn, key)
            if existing is None:
                continue  # resolved between our insert and our lock; try the insert again
            change = await self._attach(conn, existing, severity, actor, now, details)
            result = DeclareResult(change.incident, False)
            break
        return result, change

    def committed(self, change: IncidentChange) -> None:
        """Run the after-commit listeners for a change made through one of the `*_in` methods."""
        self._committed(change)

    async def _event(
        self,
        conn: asyncpg.Connection,
        incident_id: int,
        at: datetime,
        kind: str,
        actor: Actor,
        data: dict[str, Any],
    ) -> TimelineEvent:
        return await repo.append_event(
            conn, incident_id=incident_id, at=at, kind=kind, actor=actor.name, source=actor.source, data=data
        )

    async def _fresh_key(self, conn: asyncpg.Connection) -> str:
        token: str = await conn.fetchval("SELECT md5(random()::text || clock_timestamp()::text)")
        return f"manual-{token[:16]}"

    async def _attach(
        self,
        conn: asyncpg.Connection,
        existing: Incident,
        severity: Severity,
        actor: Actor,
        now: datetime,
        details: dict[str, Any],
    ) -> IncidentChange:
        updated = msgspec.structs.replace(existing, updated_at=now)
        events = [
            await self._event(
                conn, existing.id, now, "attached", actor, {"severity": severity.label, **details}
            )
        ]
        if severity < existing.severity:
            updated = msgspec.structs.replace(updated, severity=severity)
            events.append(
                await self._event(
                    conn,
                    existing.id,
                    now,
                    "severity_raised",
                    actor,
                    {"from": existing.severity.label, "to": severity.label, **details},
                )
            )
        if existing.status is Status.MITIGATED:
            updated = msgspec.structs.replace(updated, status=Status.TRIGGERED, mitigated_at=None)
            events.append(await self._event(conn, existing.id, now, "retriggered", actor, details))
        await repo.update(conn, updated)
        change = IncidentChange(incident=updated, previous=existing, events=tuple(events), actor=actor)
        await self._publish(conn, change)
        return change

    async def _locked(self, conn: asyncpg.Connection, incident_id: int) -> Incident:
        incident = await repo.lock(conn, incident_id)
        if incident is None:
            raise IncidentNotFound(incident_id)
        return incident

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
        async with self._db.transaction() as conn:
            change = await self.act_in(conn, incident_id, action, actor, note=note, details=details)
        self._committed(change)
        return change.incident

    async def act_in(
        self,
        conn: asyncpg.Connection,
        incident_id: int,
        action: Action,
        actor: Actor,
        *,
        note: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> IncidentChange:
        """`act` inside the caller's transaction; pass the result to `committed` after the commit."""
        current = await self._locked(conn, incident_id)
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
            async with conn.transaction():
                await repo.update(conn, updated)
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"cannot reopen {current.human_id}: another open incident already holds its dedup key"
            ) from None
        data: dict[str, Any] = {"from": current.status.value, "to": target.value, **(details or {})}
        if note:
            data["note"] = note
        event = await self._event(conn, incident_id, now, ACTION_EVENT[action], actor, data)
        change = IncidentChange(incident=updated, previous=current, events=(event,), actor=actor)
        await self._publish(conn, change)
        return change

    async def change_severity(
        self,
        incident_id: int,
        severity: Severity,
        actor: Actor,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Incident:
        async with self._db.transaction() as conn:
            current = await self._locked(conn, incident_id)
            kind = severity_change_kind(current.severity, severity)
            if kind is None:
                raise Conflict(f"{current.human_id} is already {severity.label}")
            if not current.status.is_open:
                raise Conflict(f"{current.human_id} is resolved; reopen it before changing its severity")
            now = self._clock()
            updated = msgspec.structs.replace(current, severity=severity, updated_at=now)
            await repo.update(conn, updated)
            data: dict[str, Any] = {"from": current.severity.label, "to": severity.label, **(details or {})}
            if reason:
                data["reason"] = reason
            event = await self._event(conn, incident_id, now, kind, actor, data)
            change = IncidentChange(incident=updated, previous=current, events=(event,), actor=actor)
            await self._publish(conn, change)
        self._committed(change)
        return updated

    async def assign(self, incident_id: int, assignee: str, actor: Actor) -> Incident:
        async with self._db.transaction() as conn:
            current = await self._locked(conn, incident_id)
            if current.assignee == assignee:
                raise Conflict(f"{current.human_id} is already assigned to {assignee}")
            now = self._clock()
            updated = msgspec.structs.replace(current, assignee=assignee, updated_at=now)
            await repo.update(conn, updated)
            event = await self._event(
                conn, incident_id, now, "assigned", actor, {"from": current.assignee, "to": assignee}
            )
            change = IncidentChange(incident=updated, previous=current, events=(event,), actor=actor)
            await self._publish(conn, change)
        self._committed(change)
        return updated

    async def add_note(self, incident_id: int, text: str, actor: Actor) -> TimelineEvent:
        return await self.record(incident_id, "note", actor, {"text": text})

    async def record(
        self, incident_id: int, kind: str, actor: Actor, data: dict[str, Any] | None = None
    ) -> TimelineEvent:
        """Append a timeline event that changes no field (a note, a delivery receipt, an alert value)."""
        async with self._db.transaction() as conn:
            current = await self._locked(conn, incident_id)
            return await self.record_in(conn, current, kind, actor, data)

    async def record_in(
        self,
        conn: asyncpg.Connection,
        incident: Incident,
        kind: str,
        actor: Actor,
        data: dict[str, Any] | None = None,
    ) -> TimelineEvent:
        """Same as `record`, inside a transaction the caller already holds (workers use this)."""
        now = self._clock()
        event = await self._event(conn, incident.id, now, kind, actor, dict(data or {}))
        await conn.execute("UPDATE incidents SET updated_at = $2 WHERE id = $1", incident.id, now)
        change = IncidentChange(incident=incident, previous=incident, events=(event,), actor=actor)
        await self._publish(conn, change)
        return event

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

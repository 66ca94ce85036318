"""The transaction an incident change rides in, as handed to callers and observers.

A caller's own rows (alert state, escalation steps, outbox intents) commit or roll
back together with the incident change, so they write through `conn`. The changes
made through the transaction are remembered here: `IncidentService.transaction()`
hands them to the after-commit listeners only once PostgreSQL has committed, and a
rolled-back savepoint forgets its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import msgspec

from service.domain.incidents import Actor, Incident, TimelineEvent


class IncidentChange(msgspec.Struct, frozen=True, kw_only=True):
    """What one use case did: the incident before and after, and the events it wrote."""

    incident: Incident
    previous: Incident | None
    events: tuple[TimelineEvent, ...]
    actor: Actor

    def has(self, kind: str) -> bool:
        return any(e.kind == kind for e in self.events)


class IncidentTransaction:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._changes: list[IncidentChange] = []

    @property
    def changes(self) -> tuple[IncidentChange, ...]:
        """Every change made in this transaction so far, in order."""
        return tuple(self._changes)

    def remember(self, change: IncidentChange) -> None:
        self._changes.append(change)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[IncidentTransaction]:
        """A nested transaction: if it rolls back, so do the changes made inside it."""
        mark = len(self._changes)
        try:
            async with self.conn.transaction():
                yield self
        except BaseException:
            del self._changes[mark:]
            raise

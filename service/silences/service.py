"""Silence and one-off window use cases, each one transaction; what the v2 API, our API and Slack call."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

import msgspec

from service.adapters.postgres.database import Database
from service.clock import Clock
from service.dependencies import Key
from service.domain.silence_matchers import Matcher
from service.domain.silences import Silence, check_new
from service.silences import store
from service.silences.snapshot import Muter


class SilenceRefused(ValueError):
    """Bad silence input; the message starts with the field."""


class SilenceNotFound(LookupError):
    def __init__(self, silence_id: str) -> None:
        super().__init__(f"silence {silence_id} not found")
        self.silence_id = silence_id


class Silences:
    def __init__(self, db: Database, muter: Muter, clock: Clock) -> None:
        self.db = db
        self.muter = muter
        self.clock = clock
        self.on_change: list[Callable[[], None]] = []

    def _changed(self) -> None:
        self.muter.forget()
        for hook in self.on_change:
            hook()

    async def upsert(
        self,
        *,
        matchers: Sequence[Matcher],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        silence_id: str | None = None,
    ) -> str:
        """Create, or update the silence `silence_id` in place (a new id if it has expired, as
        Alertmanager does); SilenceNotFound for an id we never had."""
        now = self.clock()
        starts_at = max(starts_at, now) if silence_id is None else starts_at
        problem = check_new(matchers, starts_at, ends_at, now)
        if problem:
            raise SilenceRefused(problem)
        if not created_by.strip():
            raise SilenceRefused("createdBy: required")
        async with self.db.transaction() as conn:
            existing = await store.get(conn, silence_id, lock=True) if silence_id else None
            if silence_id and existing is None:
                raise SilenceNotFound(silence_id)
            silence = Silence(
                id=str(uuid.uuid4()),
                matchers=tuple(matchers),
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=created_by.strip()[:200],
                comment=comment[:5000],
                updated_at=now,
            )
            if existing is not None and existing.state(now).value != "expired":
                silence = msgspec.structs.replace(silence, id=existing.id)
                await store.replace(conn, silence)
            else:
                await store.insert(conn, silence)
        self._changed()
        return silence.id

    async def expire(self, silence_id: str, by: str) -> Silence:
        async with self.db.transaction() as conn:
            silence = await store.expire(conn, silence_id, by, self.clock())
        if silence is None:
            raise SilenceNotFound(silence_id)
        self._changed()
        return silence

    async def get(self, silence_id: str) -> Silence:
        async with self.db.connection() as conn:
            silence = await store.get(conn, silence_id)
        if silence is None:
            raise SilenceNotFound(silence_id)
        return silence

    async def listing(self) -> list[Silence]:
        async with self.db.connection() as conn:
            return await store.listing(conn)

    async def start_window(
        self, *, name: str, matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, owner: str
    ) -> str:
        now = self.clock()
        if ends_at <= max(starts_at, now):
            raise SilenceRefused("ends_at: must be in the future and after starts_at")
        async with self.db.transaction() as conn:
            window_id = await store.new_window(
                conn,
                name=name,
                matchers=list(matchers),
                starts_at=starts_at,
                ends_at=ends_at,
                owner=owner,
                now=now,
            )
        self._changed()
        return window_id


def new_id() -> str:
    return str(uuid.uuid4())


SILENCES: Key[Silences] = Key("silences")

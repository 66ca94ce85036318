"""The service names the list's filter suggests, read at most every 30 s per process.

They only feed a <datalist> of suggestions (typing any name still filters), so a name
that appeared seconds ago may be missing for a moment; every list view saves a query.
"""

from __future__ import annotations

import time

import asyncpg

from service.dependencies import Key
from service.incidents import listing

FRESH_FOR_SECONDS = 30.0


class ServiceNames:
    def __init__(self, fresh_for: float = FRESH_FOR_SECONDS) -> None:
        self._fresh_for = fresh_for
        self._names: list[str] = []
        self._read_at: float | None = None

    async def get(self, conn: asyncpg.Connection) -> list[str]:
        now = time.monotonic()
        if self._read_at is None or now - self._read_at > self._fresh_for:
            self._names = await listing.services(conn)
            self._read_at = now
        return self._names


SERVICE_NAMES: Key[ServiceNames] = Key("web_service_names")

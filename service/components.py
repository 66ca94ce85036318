"""The plug between a capability (rules, escalation, notifications, Slack) and the composition root.

Each capability exposes one `build(context) -> Component` function; `app.py` calls
them in order and merges what they return. A capability never reaches into
another's internals: it talks to incidents through `IncidentService` (its
observers run inside the incident's transaction) and to delivery through the outbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from service.adapters.postgres.database import Database
from service.clock import Clock
from service.domain.severity import SeverityPolicy
from service.incidents.service import IncidentService
from service.settings import Settings
from service.silences.snapshot import Muter
from service.supervisor import Worker

DetailContributor = Callable[[Any], Awaitable[dict[str, Any]]]
MetricsReader = Callable[[asyncpg.Connection], Awaitable[None]]
PoolFactory = Callable[[str, int], Database]


@dataclass(frozen=True)
class Context:
    """What every capability may use; built once by the composition root."""

    settings: Settings
    database_url: str
    db: Database
    incidents: IncidentService
    clock: Clock
    severity_policy: SeverityPolicy
    muter: Muter
    pool_factory: PoolFactory | None = None

    def own_pool(self, name: str, max_size: int) -> Database:
        """A pool of its own for a worker that must not wait behind the API (the shared one in tests)."""
        return self.db if self.pool_factory is None else self.pool_factory(name, max_size)


@dataclass
class Component:
    """What a capability adds to the running service."""

    name: str
    workers: list[Worker] = field(default_factory=list)
    routes: list[Any] = field(default_factory=list)
    detail_contributors: list[DetailContributor] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Gauges read from PostgreSQL when /metrics is scraped, so every replica reports the table as it is.
    metrics_readers: list[MetricsReader] = field(default_factory=list)

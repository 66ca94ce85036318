"""The plug between a capability (rules, escalation, notifications, Slack) and the composition root.

Each capability exposes one `build(context) -> Component` function; `app.py` calls
them in order and merges what they return. A capability never reaches into
another's internals: it talks to incidents through `IncidentService` (its
observers run inside the incident's transaction) and to delivery through the outbox.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from service.adapters.postgres.database import Database
from service.clock import Clock
from service.dependencies import Key, Provision, Registry
from service.domain.severity import SeverityPolicy
from service.http.health import MetricsReader
from service.incidents.details import DetailContributor
from service.incidents.service import IncidentService, Observer, TransitionListener
from service.settings import Settings
from service.silences.snapshot import Muter
from service.supervisor import Worker

T = TypeVar("T")
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
    detail_contributors: dict[str, DetailContributor] = field(default_factory=dict)
    provides: list[Provision] = field(default_factory=list)  # typed dependencies for routes and tests
    observers: list[Observer] = field(default_factory=list)  # run inside every incident change
    after_commit: list[TransitionListener] = field(default_factory=list)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Gauges read from PostgreSQL when /metrics is scraped, so every replica reports the table as it is.
    metrics_readers: list[MetricsReader] = field(default_factory=list)

    def provided(self, key: Key[T]) -> T:
        return Registry(self.provides).get(key)

    def attach(self, incidents: IncidentService) -> None:
        """One component on its own (tests, benchmarks); app.py uses `attach_in_order`."""
        attach_in_order(incidents, [self], [self.name])


def attach_in_order(
    incidents: IncidentService, components: Sequence[Component], order: Sequence[str]
) -> None:
    """Register observers in the stated order; a component with observers must be named in it."""
    by_name = {c.name: c for c in components}
    unordered = [c.name for c in components if c.observers and c.name not in order]
    if unordered:
        raise ValueError(f"observer order does not say where {', '.join(unordered)} goes")
    for name in order:
        component = by_name.get(name)
        for observer in component.observers if component else []:
            incidents.add_observer(observer)
    for component in components:
        for listener in component.after_commit:
            incidents.add_after_commit(listener)

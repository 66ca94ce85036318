"""Wires the rules engine into the service: rule book, collector, evaluator worker, alert API, SIGHUP."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog

from service.alerting import state_reads as alert_states
from service.alerting.evaluator import CollectionLike, Evaluator, ValueSource
from service.alerting.routes import AlertsController
from service.alerting.rulebook import RULEBOOK, RuleBook
from service.components import Component, Context
from service.domain.incidents import Incident
from service.domain.rules import Rule, Sources

log = structlog.get_logger(__name__)

SourceFactory = Callable[[Sources], ValueSource]


class ReloadingSource:
    """Rebuilds the collector when an accepted reload changes the rule set (and so maybe its sources)."""

    def __init__(self, book: RuleBook, factory: SourceFactory) -> None:
        self._book = book
        self._factory = factory
        self._generation = -1
        self._current: ValueSource | None = None

    async def collect(self, rules: Sequence[Rule], now: datetime) -> CollectionLike:
        if self._current is None or self._generation != self._book.generation:
            if self._current is not None:
                await self._current.close()
            self._current = self._factory(self._book.current.sources)
            self._generation = self._book.generation
        return await self._current.collect(rules, now)

    async def close(self) -> None:
        if self._current is not None:
            await self._current.close()
            self._current = None


def collector_factory(context: Context) -> SourceFactory:
    settings = context.settings

    def make(sources: Sources) -> ValueSource:
        from service.sources.collector import Collector

        return Collector(
            sources,
            env=settings.environment,
            self_database_url=context.database_url,
            self_metrics_url=f"http://{_reachable(settings.host)}:{settings.port}/metrics",
        )

    return make


def build(context: Context, *, source_factory: SourceFactory | None = None) -> Component:
    book = RuleBook(context.settings.rules_dir, context.clock)
    book.reload()
    source = ReloadingSource(book, source_factory or collector_factory(context))
    evaluator = Evaluator(
        db=context.db, incidents=context.incidents, rulebook=book, source=source, clock=context.clock
    )

    async def run(stop: asyncio.Event) -> None:
        _install_sighup(book)
        await evaluator.run(stop)

    async def alerts_of(incident: Incident) -> list[dict[str, Any]] | None:
        async with context.db.connection() as conn:
            rows = await alert_states.for_incident(conn, incident.id)
        return rows or None

    return Component(
        name="alerting",
        workers=[("rules-evaluator", run)],
        routes=[AlertsController],
        detail_contributors={"alerts": alerts_of},
        provides=[RULEBOOK.given(book)],
        on_shutdown=[source.close],
    )


def _install_sighup(book: RuleBook) -> None:
    """`kill -HUP` reloads the rules, as Prometheus does; only possible from the main thread's loop."""
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, book.reload)
    except (RuntimeError, NotImplementedError, ValueError):
        log.debug("sighup_reload_unavailable")


def _reachable(host: str) -> str:
    """Where this process can reach its own listener: a wildcard bind is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared, not bound

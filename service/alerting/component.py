"""Wires the rules engine into the service: rule book, collector, evaluator worker, alert API, SIGHUP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog

from service.alerting import state_reads as alert_states
from service.alerting.absence_values import with_absence
from service.alerting.evaluator import Evaluator
from service.alerting.mute_sweeping import sweep_on_mute_changes
from service.alerting.reload_broadcast import RULE_RELOADS, ReloadBroadcast
from service.alerting.routes import AlertsController
from service.alerting.rulebook import RULEBOOK, RuleBook
from service.alerting.source_statuses import RecordingSource
from service.alerting.sources_api import SourcesController
from service.alerting.value_source import CollectionLike, ValueSource
from service.components import Component, Context
from service.dependencies import Key
from service.domain.incidents import Incident
from service.domain.rules import Rule, Sources
from service.supervisor import Worker

log = structlog.get_logger(__name__)

SourceFactory = Callable[[Sources], ValueSource]
# The one evaluator of this process, for benchmarks and tests that drive rounds themselves.
EVALUATOR: Key[Evaluator] = Key("evaluator")


class ReloadingSource:
    """Hands an accepted reload's sources to the collector, which keeps what it read from the unchanged
    ones; a source without `update_sources` (a test's scripted one) is rebuilt instead. The "series
    missing" companion rules get their own series from what their watched rule's signal returned."""

    def __init__(self, book: RuleBook, factory: SourceFactory) -> None:
        self._book = book
        self._factory = factory
        self._generation = -1
        self._current: ValueSource | None = None

    async def collect(self, rules: Sequence[Rule], now: datetime) -> CollectionLike:
        if self._current is None or self._generation != self._book.generation:
            update = getattr(self._current, "update_sources", None)
            if update is not None:
                update(self._book.current.sources)  # keeps the history of sources that did not change
            else:
                if self._current is not None:
                    await self._current.close()
                self._current = self._factory(self._book.current.sources)
            self._generation = self._book.generation
        assert self._current is not None
        return with_absence(rules, await self._current.collect(rules, now))

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
    replica = f"{socket.gethostname()}:{os.getpid()}"
    source = RecordingSource(
        ReloadingSource(book, source_factory or collector_factory(context)), context.db, replica
    )
    evaluator = Evaluator(
        db=context.db,
        incidents=context.incidents,
        rulebook=book,
        source=source,
        clock=context.clock,
        muter=context.muter,
    )
    reloads = ReloadBroadcast(context.db, book, context.clock, replica=replica)

    async def run(stop: asyncio.Event) -> None:
        _install_sighup(reloads)
        await evaluator.run(stop)

    async def release(stop: asyncio.Event) -> None:
        await sweep_on_mute_changes(stop, context, evaluator.release_muted)

    async def alerts_of(incident: Incident) -> list[dict[str, Any]] | None:
        async with context.db.connection() as conn:
            rows = await alert_states.for_incident(conn, incident.id)
        return rows or None

    return Component(
        name="alerting",
        # A round reads every due source under its own timeout (at most a minute) before evaluating.
        workers=[
            Worker("rules-evaluator", run, stall_after=120.0),
            Worker("rules-reload-follower", reloads.follow, stall_after=60.0),
            Worker("rule-mute-release", release, stall_after=60.0),
        ],
        routes=[AlertsController, SourcesController],
        detail_contributors={"alerts": alerts_of},
        provides=[RULEBOOK.given(book), RULE_RELOADS.given(reloads), EVALUATOR.given(evaluator)],
        on_shutdown=[source.close],
    )


_PENDING: set[asyncio.Task[Any]] = set()


def _install_sighup(reloads: ReloadBroadcast) -> None:
    """`kill -HUP` reloads the rules on every replica, as the API does; only possible from the main
    thread's loop."""

    def on_hup() -> None:
        task = asyncio.ensure_future(reloads.request(by="SIGHUP"))
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_hup)
    except (RuntimeError, NotImplementedError, ValueError):
        log.debug("sighup_reload_unavailable")


def _reachable(host: str) -> str:
    """Where this process can reach its own listener: a wildcard bind is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared, not bound

"""Turning the configured sources into the derived values the evaluator needs, once per evaluation.

`collect(rules, now)` reads every source those rules use, each at most once and
all of them concurrently, each under its own timeout, so one slow or broken
source never holds up the others. A source that cannot be read yields `None`
for the rules reading it (their alert states are held) and an `ok=False`
status (the pipeline's synthetic `up == 0` alert); a source whose environment
variable is unset is inert: skipped, listed in `inert`, and its rules get `None`.

Sources are also read no more often than their interval: a scrape target every
`interval` (default 15s), a SQL probe every `interval` (default: the shortest
interval of the groups using it), a Prometheus server at the groups' interval.
Within that time a later `collect()` reuses the last result and its status
(`SourceStatus.cached`), so two groups reading `self` share one scrape.

Rates need history: see `service.domain.scrape_history` (in memory; after a
restart rates are unavailable until two scrapes fall inside the window).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

import aiohttp
import msgspec
import structlog

from service.cancellation import reraise_if_cancelling
from service.domain.derivations import Row
from service.domain.rules import (
    SELF_DATABASE,
    PrometheusServer,
    Rule,
    ScrapeTarget,
    SignalKind,
    Sources,
    SqlProbe,
)
from service.sources.failures import SourceError
from service.sources.metrics import SOURCE_DURATION, SOURCE_FAILURES, SOURCE_UP
from service.sources.prometheus_api import instant_query
from service.sources.sql_probes import ProbeRunner
from service.sources.statuses import Collection, SourceStatus, summary, target_statuses
from service.sources.target_scrapes import TargetScrapes, TargetStatus

__all__ = ["Collection", "Collector", "SourceStatus"]

log = structlog.get_logger(__name__)

SourceKind = Literal["scrape", "prometheus", "sql"]
# A source due within this share of its interval is read now: loops drift by milliseconds, and
# skipping a read for that would halve its rate.
_DUE_SLACK = 0.9
_SCRAPE_KINDS = {SignalKind.GAUGE, SignalKind.RATE, SignalKind.RATIO, SignalKind.QUANTILE}


class _Read(msgspec.Struct, kw_only=True):
    """The last read of one source: its status and, for Prometheus and SQL, its rows."""

    status: SourceStatus
    at: datetime
    rows: dict[str, list[Row]] = msgspec.field(default_factory=dict)  # by query (prometheus) or "" (sql)
    errors: dict[str, str] = msgspec.field(default_factory=dict)  # failed queries (prometheus)
    targets: list[TargetStatus] = msgspec.field(default_factory=list)  # scrape: one per target
    target_statuses: list[SourceStatus] = msgspec.field(default_factory=list)


def _by_kind(
    sources: Sources,
) -> list[tuple[str, Sequence[ScrapeTarget | PrometheusServer | SqlProbe]]]:
    return [("scrape", sources.scrape), ("prometheus", sources.prometheus), ("sql", sources.sql)]


class Collector:
    def __init__(
        self,
        sources: Sources,
        *,
        env: Mapping[str, str],
        self_database_url: str | None,
        self_metrics_url: str | None = None,
    ) -> None:
        self._sources = sources
        self._env = dict(env)
        self._self_database_url = self_database_url
        self._self_metrics_url = self_metrics_url
        self._scrapes = TargetScrapes(self._env)
        self._reads: dict[str, _Read] = {}
        # Every rule seen reading each source: a scrape keeps the metrics of all of them, whichever
        # group's evaluation happens to trigger it.
        self._known: dict[str, dict[str, Rule]] = {}
        self._inflight: dict[str, asyncio.Task[_Read]] = {}
        self._probes = ProbeRunner()
        self._session: aiohttp.ClientSession | None = None

    def update_sources(self, sources: Sources) -> None:
        """A reloaded rule set: what was read from a source whose definition did not change (each
        target's scrape history and parser cache, the last read) is kept, so an identical reload blinds
        no rate rule; a changed source starts afresh."""
        before = {(kind, s.name): s for kind, entries in _by_kind(self._sources) for s in entries}
        after = {(kind, s.name): s for kind, entries in _by_kind(sources) for s in entries}
        unchanged = {name for key, entry in after.items() if before.get(key) == entry for name in key[1:]}
        self._scrapes.keep_only(unchanged)
        self._reads = {name: r for name, r in self._reads.items() if name in unchanged}
        self._known = {}
        self._sources = sources

    async def close(self) -> None:
        for task in self._inflight.values():
            task.cancel()
        self._inflight.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._probes.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": "incidentd-rules"}, connector=aiohttp.TCPConnector(limit=128)
            )
        return self._session

    # ---- which source each rule reads -------------------------------------------------------

    def _kind_of(self, rule: Rule) -> SourceKind | None:
        kind = self._sources.kind_of(rule.signal.source)
        if kind == "scrape" and rule.signal.kind in _SCRAPE_KINDS:
            return "scrape"
        if kind == "prometheus" and rule.signal.kind is SignalKind.PROMQL:
            return "prometheus"
        if kind == "sql" and rule.signal.kind is SignalKind.PROBE:
            return "sql"
        return None

    def _address(self, name: str, kind: SourceKind) -> str | None:
        """The URL or DSN to read, or None when the source is inert (its variable is unset)."""
        if kind == "scrape":
            target = next(t for t in self._sources.scrape if t.name == name)
            if name == "self" and self._self_metrics_url:
                return self._self_metrics_url
            if target.many:
                return "targets"  # listed in the rule files: never inert
            return target.url or (self._env.get(target.url_env) if target.url_env else None) or None
        if kind == "prometheus":
            server = next(s for s in self._sources.prometheus if s.name == name)
            return server.url or (self._env.get(server.url_env) if server.url_env else None) or None
        probe = self._sources.probe(name)
        if probe is None:
            return None
        if probe.database == SELF_DATABASE:
            return self._self_database_url or None
        return self._env.get(probe.database) or None

    # ---- collect ----------------------------------------------------------------------------

    async def collect(self, rules: Sequence[Rule], now: datetime) -> Collection:
        values: dict[str, list[Row] | None] = {}
        by_source: dict[str, list[Rule]] = {}
        kinds: dict[str, SourceKind] = {}
        for rule in rules:
            kind = self._kind_of(rule)
            if kind is None:
                log.warning("rule_source_unknown", rule=rule.name, source=rule.signal.source)
                values[rule.name] = None
                continue
            by_source.setdefault(rule.signal.source, []).append(rule)
            self._known.setdefault(rule.signal.source, {})[rule.name] = rule
            kinds[rule.signal.source] = kind
        inert: list[str] = []
        reads: dict[str, Awaitable[_Read]] = {}
        for name, readers in by_source.items():
            address = self._address(name, kinds[name])
            if address is None:
                inert.append(name)
                continue
            reads[name] = self._read(name, kinds[name], address, readers, now)
        results = await asyncio.gather(*reads.values())
        done = dict(zip(reads, results, strict=True))
        held: dict[str, list[dict[str, str]]] = {}
        for name, readers in by_source.items():
            read = done.get(name)
            for rule in readers:
                if read is not None and kinds[name] == "scrape":
                    source = next(t for t in self._sources.scrape if t.name == name)
                    values[rule.name], held[rule.name] = self._scrapes.rows(rule, source, read.targets, now)
                    continue
                values[rule.name] = None if read is None else self._values(rule, kinds[name], read, now)
        statuses = [s for read in done.values() for s in (read.target_statuses or [read.status])]
        return Collection(
            at=now,
            values=values,
            statuses=statuses,
            inert=sorted(inert),
            held={k: v for k, v in held.items() if v},
        )

    def _values(self, rule: Rule, kind: SourceKind, read: _Read, now: datetime) -> list[Row] | None:
        signal = rule.signal
        if kind == "prometheus":
            return read.rows.get(signal.query or "")  # None when that query failed
        if not read.status.ok:
            return None
        if kind == "sql":
            rows = read.rows.get("", [])
            selector = signal.metric
            if selector is None or not selector.matchers:
                return list(rows)
            return [(labels, value) for labels, value in rows if selector.matches(labels)]
        return None  # scrape sources: TargetScrapes.rows

    async def _read(
        self, name: str, kind: SourceKind, address: str, readers: list[Rule], now: datetime
    ) -> _Read:
        last = self._reads.get(name)
        if last is not None and self._fresh(name, kind, last, readers, now):
            return msgspec.structs.replace(
                last,
                status=msgspec.structs.replace(last.status, cached=True),
                target_statuses=[msgspec.structs.replace(s, cached=True) for s in last.target_statuses],
            )
        task = self._inflight.get(name)
        if task is None:
            task = asyncio.ensure_future(self._fetch(name, kind, address, readers, now))
            self._inflight[name] = task
            task.add_done_callback(lambda _: self._inflight.pop(name, None))
        read = await asyncio.shield(task)
        self._reads[name] = read
        return read

    def _fresh(self, name: str, kind: SourceKind, last: _Read, readers: list[Rule], now: datetime) -> bool:
        interval = self._interval(name, kind, readers)
        if now - last.at >= interval * _DUE_SLACK:
            return False
        if kind == "prometheus":
            wanted = {rule.signal.query or "" for rule in readers}
            return wanted <= set(last.rows) | set(last.errors)
        return True

    def _interval(self, name: str, kind: SourceKind, readers: list[Rule]) -> timedelta:
        known = self._known.get(name, {}).values()
        group_interval = min(rule.interval for rule in [*readers, *known])
        if kind == "scrape":
            return next(t.interval for t in self._sources.scrape if t.name == name)
        if kind == "sql":
            probe = self._sources.probe(name)
            return probe.interval if probe is not None and probe.interval is not None else group_interval
        return group_interval

    def _timeout(self, name: str, kind: SourceKind) -> float:
        if kind == "scrape":
            return next(t.timeout for t in self._sources.scrape if t.name == name).total_seconds()
        if kind == "prometheus":
            return next(s.timeout for s in self._sources.prometheus if s.name == name).total_seconds()
        probe = self._sources.probe(name)
        return probe.timeout.total_seconds() if probe is not None else 5.0

    async def _fetch(
        self, name: str, kind: SourceKind, address: str, readers: list[Rule], now: datetime
    ) -> _Read:
        readers = list(self._known.get(name, {}).values()) or readers
        timeout = self._timeout(name, kind)
        labels: dict[str, str] = {}
        if kind == "scrape":
            labels = dict(next(t.labels for t in self._sources.scrape if t.name == name))
        started = time.perf_counter()
        rows: dict[str, list[Row]] = {}
        errors: dict[str, str] = {}
        error: str | None = None
        scraped: list[TargetStatus] = []
        per_target: list[SourceStatus] = []
        try:
            if kind == "scrape":
                scraped, per_target = await self._scrape(name, address, readers, now)
                error = summary(per_target)
            elif kind == "prometheus":
                rows, errors = await self._query_all(address, readers, now, timeout)
                error = next(iter(errors.values()), None)
            else:
                rows[""] = await self._probe(name, address, timeout)
        except SourceError as exc:
            error = str(exc)
        except Exception as exc:  # never let one source take the evaluation down
            reraise_if_cancelling(exc)
            log.exception("source_read_crashed", source=name, kind=kind)
            error = f"internal error: {type(exc).__name__}"
        duration = time.perf_counter() - started
        status = SourceStatus(
            source=name,
            kind=kind,
            ok=error is None,
            error=error,
            labels=labels,
            duration_seconds=duration,
            read_at=now,
            samples=sum(len(r) for r in rows.values()) if kind != "scrape" and error is None else None,
        )
        self._observe(status, self._reads.get(name))
        return _Read(
            status=status, at=now, rows=rows, errors=errors, targets=scraped, target_statuses=per_target
        )

    async def _scrape(
        self, name: str, url: str, readers: list[Rule], now: datetime
    ) -> tuple[list[TargetStatus], list[SourceStatus]]:
        """Every target of the source, and a status for each (plus one per unreadable file_sd file)."""
        source = next(t for t in self._sources.scrape if t.name == name)
        targets = self._scrapes.targets(source, None if source.many else url)
        scraped = await self._scrapes.scrape(self._http(), source, targets, readers, now)
        return scraped, target_statuses(source, scraped, self._scrapes.file_errors(source), now)

    async def _query_all(
        self, url: str, readers: list[Rule], now: datetime, timeout: float
    ) -> tuple[dict[str, list[Row]], dict[str, str]]:
        queries = sorted({rule.signal.query for rule in readers if rule.signal.query})
        at = now.timestamp()

        async def one(query: str) -> list[Row] | str:
            try:
                async with asyncio.timeout(timeout + 1):
                    return await instant_query(self._http(), url, query, at, timeout)
            except SourceError as exc:
                return str(exc)
            except TimeoutError:
                return f"query timed out after {timeout:g}s"

        answers = await asyncio.gather(*(one(query) for query in queries))
        rows = {q: a for q, a in zip(queries, answers, strict=True) if not isinstance(a, str)}
        errors = {q: a for q, a in zip(queries, answers, strict=True) if isinstance(a, str)}
        return rows, errors

    async def _probe(self, name: str, dsn: str, timeout: float) -> list[Row]:
        probe = self._sources.probe(name)
        if probe is None:
            raise SourceError(f"no sql probe named {name!r}")
        return await self._probes.run(probe, dsn, probe.database)

    def _observe(self, status: SourceStatus, previous: _Read | None) -> None:
        """Per source: a scrape source is up when every target (and every file_sd file) is."""
        SOURCE_UP.labels(status.source, status.kind).set(1 if status.ok else 0)
        SOURCE_DURATION.labels(status.source, status.kind).observe(status.duration_seconds)
        if not status.ok:
            SOURCE_FAILURES.labels(status.source, status.kind).inc()
        was_ok = previous is None or previous.status.ok
        if was_ok and not status.ok:
            log.warning("source_down", source=status.source, kind=status.kind, error=status.error)
        elif not was_ok and status.ok:
            log.info("source_up", source=status.source, kind=status.kind)

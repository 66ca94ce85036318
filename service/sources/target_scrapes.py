"""Scraping every target of a scrape source at once, each into its own history.

One rule covers every target: the collector asks for a source's rows and gets
the rows of each target that answered, derived from that target's own history
(a rate never mixes two hosts' counters) and labelled with its `job` and
`instance`. A target that did not answer is listed in `held`: its alerts keep
their state, exactly as when a whole source cannot be read, while the other
targets are evaluated as usual. Each target also has a status of its own, so
the synthetic SourceDown alert says which instance is down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

import aiohttp
import msgspec
import structlog

from service.domain.derivations import Row, derive, needed_metrics
from service.domain.rules import Rule, ScrapeTarget, SignalKind
from service.domain.scrape_history import ScrapeHistory
from service.sources.exposition import Exposition, ExpositionParser
from service.sources.failures import ExpositionUnreadable, SourceError
from service.sources.metrics import SCRAPE_ERRORS, SCRAPE_SAMPLES, SCRAPE_TARGETS, SCRAPE_TARGETS_UP
from service.sources.scrape import fetch_exposition
from service.sources.scrape_auth import authorization, tls_context
from service.sources.targets import Target, TargetFiles, attach_labels, listed_targets, url_target

log = structlog.get_logger(__name__)

MAX_PARALLEL_SCRAPES = 64  # per source: 200 targets finish in a few rounds without 200 open sockets


class TargetStatus(msgspec.Struct, frozen=True, kw_only=True):
    target: Target
    ok: bool
    error: str | None
    duration_seconds: float
    warning: str | None = None  # the scrape worked with samples dropped (duplicates)
    samples: int | None = None  # in the exposition (all of them, not only those the rules read)
    dropped_samples: int = 0


def target_key(target: Target) -> dict[str, str]:
    """What identifies a target's alerts among a rule's series."""
    return {"job": target.labels.get("job", ""), "instance": target.instance}


class TargetScrapes:
    """Histories, parsers and file_sd state of every scrape source, by source and target URL."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._histories: dict[tuple[str, str], ScrapeHistory] = {}
        self._parsers: dict[tuple[str, str], ExpositionParser] = {}
        self._files: dict[str, TargetFiles] = {}

    def keep_only(self, kept: Collection[str]) -> None:
        """Forget every source not named: a reload changed or removed its definition."""
        self._histories = {k: h for k, h in self._histories.items() if k[0] in kept}
        self._parsers = {k: p for k, p in self._parsers.items() if k[0] in kept}
        self._files = {k: f for k, f in self._files.items() if k in kept}

    def targets(self, source: ScrapeTarget, url: str | None) -> list[Target]:
        if not source.many:
            return [url_target(source, url)] if url else []
        files = self._files.setdefault(source.name, TargetFiles())
        return listed_targets(source, files.groups(source.file_sd) if source.file_sd else [])

    def file_errors(self, source: ScrapeTarget) -> dict[str, str]:
        files = self._files.get(source.name)
        return {str(path): error for path, error in files.errors.items()} if files is not None else {}

    async def scrape(
        self,
        session: aiohttp.ClientSession,
        source: ScrapeTarget,
        targets: Sequence[Target],
        readers: Sequence[Rule],
        now: datetime,
    ) -> list[TargetStatus]:
        wanted: set[str] = set()
        keep_for = 0.0
        for rule in readers:
            names, window = needed_metrics(rule.signal)
            wanted.update(names)
            keep_for = max(keep_for, window)
        timeout = source.timeout.total_seconds()
        try:
            tls = tls_context(source.tls)
            headers = authorization(source.auth, self._env)
        except SourceError as exc:
            return [TargetStatus(target=t, ok=False, error=str(exc), duration_seconds=0.0) for t in targets]
        gate = asyncio.Semaphore(MAX_PARALLEL_SCRAPES)
        server_name = source.tls.server_name if source.tls is not None else None

        async def one(target: Target) -> TargetStatus:
            async with gate:
                started = time.perf_counter()
                key = (source.name, target.url)
                parser = self._parsers.setdefault(key, ExpositionParser())
                try:
                    async with asyncio.timeout(timeout + 1):
                        exposition = await fetch_exposition(
                            session,
                            target.url,
                            timeout,
                            parser,
                            headers=headers,
                            tls=tls,
                            server_name=server_name,
                        )
                except SourceError as exc:
                    if isinstance(exc, ExpositionUnreadable):
                        SCRAPE_ERRORS.labels(source.name, "parse").inc()
                    return TargetStatus(
                        target=target,
                        ok=False,
                        error=str(exc),
                        duration_seconds=time.perf_counter() - started,
                    )
                except TimeoutError:
                    error = f"timed out after {timeout:g}s"
                    return TargetStatus(
                        target=target, ok=False, error=error, duration_seconds=time.perf_counter() - started
                    )
                honor = source.honor_labels
                samples = [
                    (s[0], attach_labels(s[1], target.labels, honor_labels=honor), s[2])
                    for s in exposition.samples
                    if s[0] in wanted
                ]
                self._histories.setdefault(key, ScrapeHistory()).add(now.timestamp(), samples, keep_for)
                if not source.many:
                    SCRAPE_SAMPLES.labels(source.name).set(len(exposition.samples))
                return TargetStatus(
                    target=target,
                    ok=True,
                    error=None,
                    duration_seconds=time.perf_counter() - started,
                    warning=_duplicates_dropped(source.name, target, exposition),
                    samples=len(exposition.samples),
                    dropped_samples=exposition.duplicates,
                )

        statuses = list(await asyncio.gather(*(one(t) for t in targets)))
        SCRAPE_TARGETS.labels(source.name).set(len(statuses))
        SCRAPE_TARGETS_UP.labels(source.name).set(sum(1 for s in statuses if s.ok))
        return statuses

    def rows(
        self, rule: Rule, source: ScrapeTarget, statuses: Sequence[TargetStatus], now: datetime
    ) -> tuple[list[Row] | None, list[dict[str, str]]]:
        """The rule's rows from every target that answered, and the targets whose alerts are held.
        None when no target answered (every state of the rule is held)."""
        rows: list[Row] = []
        held: list[dict[str, str]] = []
        answered = not statuses  # no targets (an empty file_sd directory): no series, as in Prometheus
        for status in statuses:
            history = self._histories.get((source.name, status.target.url))
            warming_up = (
                history is not None and history.scrapes < 2 and rule.signal.kind is not SignalKind.GAUGE
            )
            if not status.ok or history is None or warming_up:
                # a rate needs two scrapes: after a start that is not "no series", so the states are held
                held.append(target_key(status.target))
                continue
            answered = True
            gauge_keeps_scraped = source.honor_labels and rule.signal.kind is SignalKind.GAUGE
            static = {} if gauge_keeps_scraped else status.target.labels
            try:
                rows.extend(derive(rule.signal, history, now.timestamp(), static))
            except Exception:  # a derivation bug must cost one rule, not the evaluation
                log.exception("derivation_failed", rule=rule.name, source=source.name)
                return None, []
        return (rows if answered else None), held


def _duplicates_dropped(source: str, target: Target, exposition: Exposition) -> str | None:
    """Counted and said on the target's status: Prometheus keeps the first sample of a series too."""
    if not exposition.duplicates:
        return None
    SCRAPE_ERRORS.labels(source, "duplicate").inc(exposition.duplicates)
    log.warning(
        "scrape_duplicates_dropped", source=source, instance=target.instance, count=exposition.duplicates
    )
    example = exposition.duplicate[:120] if exposition.duplicate else "?"
    kept = "the first of each series kept"
    return f"{exposition.duplicates} duplicate sample(s) dropped, {kept} (e.g. {example})"

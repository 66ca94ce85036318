"""The opt-in "series missing" alert end to end: a real scrape of a local target, the real collector and
evaluator on real PostgreSQL; the metric disappears, the alert fires at the slot `absent.for` says, across
a restart and a second replica, with words that say the data is missing; it resolves when the data is back."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.adapters.postgres.database import Database
from service.alerting.component import ReloadingSource
from service.alerting.evaluator import Evaluator
from service.alerting.rulebook import RuleBook
from service.clock import FrozenClock
from service.domain.rules import Sources
from service.incidents.service import IncidentService
from service.sources.collector import Collector
from service.testing.text_target import text_target

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

RULES = """
sources:
  scrape:
    - {name: app, url_env: TARGET_URL, interval: 15s, timeout: 2s}
groups:
  - name: queues
    interval: 15s
    labels: {service: checkout, team: payments}
    rules:
      - alert: QueueDepthHigh
        signal: {source: app, gauge: 'queue_depth{queue="jobs"}', unit: count}
        when: above
        warning: 100
        severity: {warning: P3}
        absent: {for: 1m, severity: P2}
"""


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, list[str]]]:
    bodies = ['queue_depth{queue="jobs"} 3\n']
    async with text_target(lambda: bodies[0]) as url:
        yield url, bodies


class Replica:
    """One process: its own rule book, collector and evaluator; only PostgreSQL is shared."""

    def __init__(self, db: Database, rules_dir: Path, clock: FrozenClock, url: str) -> None:
        book = RuleBook(rules_dir, clock)
        assert book.reload().accepted, book.last_problems

        def collector(sources: Sources) -> Collector:
            return Collector(sources, env={"TARGET_URL": url}, self_database_url=None)

        self.source = ReloadingSource(book, collector)
        self.incidents = IncidentService(db, clock=clock)
        self.evaluator = Evaluator(
            db=db, incidents=self.incidents, rulebook=book, source=self.source, clock=clock
        )


async def test_a_series_missing_for_absent_for_pages_once_and_says_the_data_is_missing(
    db: Database, tmp_path: Path, target: tuple[str, list[str]]
) -> None:
    url, bodies = target
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES))
    clock = FrozenClock(T0)
    first = Replica(db, tmp_path, clock, url)
    incidents = first.incidents
    try:
        await first.evaluator.tick()  # the series is there
        bodies[0] = 'queue_depth{queue="other"} 3\n'  # renamed label: the rule's selector matches nothing
        clock.advance(timedelta(seconds=15))
        await first.evaluator.tick()  # 1st evaluation without series: pending
        state = await db.fetchval("SELECT status FROM alert_states WHERE rule = 'QueueDepthHigh_absent'")
        assert state == "pending"
        await first.source.close()

        # a restart, then two replicas: the `for` clock lives in PostgreSQL, each slot runs once
        second, third = (Replica(db, tmp_path, clock, url) for _ in range(2))
        for evaluation in (2, 3, 4):
            clock.advance(timedelta(seconds=15))
            await asyncio.gather(second.evaluator.tick(), third.evaluator.tick())
            assert await incidents.list() == [], f"evaluation {evaluation} without series: still pending"
        clock.advance(timedelta(seconds=15))
        await asyncio.gather(second.evaluator.tick(), third.evaluator.tick())  # 60 s after the 1st: fires
        [incident] = await incidents.list()
        assert incident.severity.label == "P2"
        assert incident.title == 'No data for QueueDepthHigh: queue_depth{queue="jobs"} matches no series'
        assert incident.labels["service"] == "checkout"
        assert incident.labels["alertname"] == "QueueDepthHigh_absent"
        _, events = await incidents.get(incident.id)
        assert [e.kind for e in events] == ["declared"], "one page, whichever replica won the slot"
        declared = events[0].data
        assert (
            declared["summary"]
            == "no series for 1m or more: QueueDepthHigh cannot fire while its data is missing"
        )
        assert declared["value_text"] == "no series"
        assert declared["value"] is None, "no number to show as a reading or a peak"
        assert "missing data, not a high or low value" in declared["description"]
        assert declared["threshold_text"] is None
        labels = await db.fetchval(
            "SELECT labels FROM alert_states WHERE rule = 'QueueDepthHigh_absent' AND status = 'firing'"
        )
        assert labels is not None

        bodies[0] = 'queue_depth{queue="jobs"} 4\n'  # the data is back
        clock.advance(timedelta(seconds=15))
        await asyncio.gather(second.evaluator.tick(), third.evaluator.tick())
        incident, events = await incidents.get(incident.id)
        assert incident.status.value == "resolved"
        assert [e.kind for e in events][-2:] == ["alert_cleared", "resolved"]
        assert events[-2].data["value_text"] == "series present again"
        assert (
            await db.fetchval(
                "SELECT count(*) FROM alert_states WHERE rule = 'QueueDepthHigh' AND status <> 'resolved'"
            )
            == 0
        ), "a depth of 4 breaches nothing: the watched rule itself stays quiet"
        await second.source.close()
        await third.source.close()
    finally:
        await first.source.close()


async def test_an_unreadable_target_is_not_missing_data(db: Database, tmp_path: Path) -> None:
    """A target that does not answer holds the companion: SourceDown reports that, not "no series"."""
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES))
    clock = FrozenClock(T0)
    replica = Replica(db, tmp_path, clock, "http://127.0.0.1:9/metrics")  # nothing listens on port 9
    try:
        for _ in range(8):
            await replica.evaluator.tick()
            clock.advance(timedelta(seconds=15))
        titles = [i.title for i in await replica.incidents.list()]
        assert titles == ["scrape source 'app' cannot be read"]
        assert (
            await db.fetchval("SELECT count(*) FROM alert_states WHERE rule = 'QueueDepthHigh_absent'") == 0
        )
    finally:
        await replica.source.close()

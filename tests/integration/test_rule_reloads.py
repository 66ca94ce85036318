"""Reloads keep what did not change, reach every replica, and resolve the alerts of removed rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.adapters.postgres.database import Database
from service.alerting.component import ReloadingSource
from service.alerting.evaluator import Evaluator
from service.alerting.reload_broadcast import ReloadBroadcast
from service.alerting.rulebook import RuleBook
from service.clock import FrozenClock
from service.incidents.service import IncidentService
from service.sources.collector import Collector
from service.testing.scripted_values import ScriptedSource
from service.testing.text_target import text_target

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
PACK = (Path(__file__).resolve().parents[1] / "fixtures" / "app-rules.yaml").read_text()

RATE_RULES = """
sources:
  scrape:
    - {{name: app, url: "{url}", interval: 15s, timeout: 2s}}
groups:
  - name: g
    interval: 15s
    labels: {{service: app}}
    rules:
      - alert: Busy
        signal: {{source: app, rate: work_total}}
        when: above
        warning: 1000000
        severity: {{warning: P3}}
"""


@pytest.fixture
async def counter_url() -> AsyncIterator[str]:
    scrapes = [0]

    def body() -> str:
        scrapes[0] += 1
        return f"work_total {scrapes[0] * 150}\n"

    async with text_target(body) as url:
        yield url


async def _busy(
    source: ReloadingSource, book: RuleBook, at: datetime
) -> list[tuple[dict[str, str], float]] | None:
    collection = await source.collect(list(book.current.enabled_rules()), at)
    return collection.values["Busy"]


async def test_an_identical_reload_keeps_scrape_history_and_a_changed_source_starts_over(
    counter_url: str, tmp_path: Path
) -> None:
    clock = FrozenClock(T0)
    path = tmp_path / "rules.yaml"
    path.write_text(RATE_RULES.format(url=counter_url))
    book = RuleBook(tmp_path, clock)
    assert book.reload().accepted
    source = ReloadingSource(book, lambda sources: Collector(sources, env={}, self_database_url=None))
    try:
        assert await _busy(source, book, T0) is None  # one scrape: no rate yet, states held
        assert await _busy(source, book, T0 + timedelta(seconds=15)) != []
        assert book.reload().accepted  # identical files, a new generation
        assert await _busy(source, book, T0 + timedelta(seconds=30)) != []  # history kept: no blind spell
        path.write_text(RATE_RULES.format(url=counter_url + "?changed=1"))
        assert book.reload().accepted
        assert await _busy(source, book, T0 + timedelta(seconds=45)) is None  # another source: starts over
    finally:
        await source.close()


async def test_a_reload_asked_of_one_replica_reaches_the_others(db: Database, tmp_path: Path) -> None:
    clock = FrozenClock(T0)
    (tmp_path / "app.yaml").write_text(PACK)
    books = [RuleBook(tmp_path, clock), RuleBook(tmp_path, clock)]
    for book in books:
        assert book.reload().accepted
    asked, other = (ReloadBroadcast(db, book, clock, replica=f"r{i}") for i, book in enumerate(books))
    assert await other.poll() is False  # learns the current generation; nothing to do
    (tmp_path / "app.yaml").write_text(PACK.replace("alert: QueueDepthHigh", "alert: QueueTooDeep"))
    result = await asked.request(by="API")
    assert result.accepted
    assert "QueueTooDeep" in {r.name for r in books[0].current.rules()}
    assert "QueueTooDeep" not in {r.name for r in books[1].current.rules()}
    assert await other.poll() is True
    assert "QueueTooDeep" in {r.name for r in books[1].current.rules()}
    assert await asked.poll() is False  # the replica that was asked does not reload twice
    assert await other.poll() is False
    row = await db.fetchrow("SELECT generation, requested_by FROM rule_reload_requests")
    assert row is not None
    assert (row["generation"], row["requested_by"]) == (1, "API on r0")


async def test_alerts_of_a_removed_rule_resolve_at_once_and_clear_their_incident(
    db: Database, tmp_path: Path
) -> None:
    clock = FrozenClock(T0)
    (tmp_path / "app.yaml").write_text(PACK)
    book = RuleBook(tmp_path, clock)
    assert book.reload().accepted
    incidents = IncidentService(db, clock=clock)
    source = ScriptedSource()
    evaluator = Evaluator(db=db, incidents=incidents, rulebook=book, source=source, clock=clock)
    source.set_value("QueueDepthHigh", 500)
    source.set_value("ErrorRateHigh", 0.05)
    await evaluator.tick()  # QueueDepthHigh fires (for: 0s), ErrorRateHigh is pending
    [incident] = await incidents.list()
    assert incident.status.value == "triggered"

    start = PACK.index("      - alert: QueueDepthHigh")
    (tmp_path / "app.yaml").write_text(PACK[:start].replace("alert: ErrorRateHigh", "alert: ErrorRateHot"))
    assert book.reload().accepted
    clock.advance(timedelta(seconds=1))  # the next tick, well inside the rule's 30 s slot
    await evaluator.tick()

    rows = await db.fetch("SELECT rule, status FROM alert_states ORDER BY rule")
    assert [(r["rule"], r["status"]) for r in rows] == [("QueueDepthHigh", "resolved")]  # pending dropped
    incident, events = await incidents.get(incident.id)
    assert incident.status.value == "resolved"  # QueueDepthHigh is auto_resolve: cleared as it would clear
    cleared = [e for e in events if e.kind == "alert_cleared"]
    assert len(cleared) == 1
    assert cleared[0].data["rule"] == "QueueDepthHigh"
    assert cleared[0].data["reason"] == "rule removed from the rule files (or disabled)"

    restarted = Evaluator(db=db, incidents=incidents, rulebook=book, source=source, clock=clock)
    await restarted.tick()  # a second sweep (another replica, a restart) finds nothing left to do
    _, again = await incidents.get(incident.id)
    assert len(again) == len(events)

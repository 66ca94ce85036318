"""A scrape Prometheus would accept is accepted: an unknown escape is kept, a duplicate series dropped and
counted; one it would refuse fails the target as a whole and is counted too."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.config.rule_files import load_rules
from service.sources.collector import Collector
from service.sources.metrics import SCRAPE_ERRORS
from service.testing.text_target import text_target

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

RULES = """
sources:
  scrape:
    - {name: lenient, url_env: TARGET_URL, interval: 15s, timeout: 2s}
groups:
  - name: g
    labels: {service: app}
    rules:
      - alert: Depth
        signal: {source: lenient, gauge: depth, unit: count}
        when: above
        warning: 100
        severity: {warning: P3}
"""


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, list[str]]]:
    bodies = [""]
    async with text_target(lambda: bodies[0]) as url:
        yield url, bodies


def _errors(reason: str) -> float:
    value: float = SCRAPE_ERRORS.labels("lenient", reason)._value.get()
    return value


async def test_prometheus_leniency_keeps_the_scrape_and_reports_what_was_dropped(
    target: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, bodies = target
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(RULES))
    ruleset, problems = load_rules([path])
    assert problems == []
    collector = Collector(ruleset.sources, env={"TARGET_URL": url}, self_database_url=None)
    rules = list(ruleset.rules())
    duplicates, parse = _errors("duplicate"), _errors("parse")
    try:
        bodies[0] = 'depth{queue="a\\tb"} 5\ndepth{queue="c"} 7\ndepth{queue="c"} 9\n'
        good = await collector.collect(rules, T0)
        (status,) = good.statuses
        assert status.ok
        assert status.error is None
        assert status.warning is not None
        assert status.warning.startswith("1 duplicate sample(s) dropped")
        assert 'depth{queue="c"}' in status.warning
        assert sorted((labels["queue"], value) for labels, value in good.values["Depth"] or []) == [
            ("a\\tb", 5.0),  # the escape kept as written, as Prometheus keeps it
            ("c", 7.0),  # the first sample of the series wins
        ]
        assert _errors("duplicate") == duplicates + 1

        bodies[0] = 'depth{queue="a"} 5\ndepth{queue="b"} 1_000\n'
        bad = await collector.collect(rules, T0.replace(minute=1))
        (status,) = bad.statuses
        assert not status.ok
        assert status.error == "cannot parse the exposition: line 2: depth: bad value '1_000'"
        assert bad.values["Depth"] is None  # held, as for any unreadable target
        assert _errors("parse") == parse + 1
    finally:
        await collector.close()

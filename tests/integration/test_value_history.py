"""The value history the evaluator keeps per alert group, and the RCA chart drawn from it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_evaluator import PACK, make_evaluator, step

from service.adapters.postgres.database import Database
from service.alerting.rulebook import RuleBook
from service.alerting.value_samples import ValueSampler, bucket_width
from service.clock import FrozenClock
from service.domain.alerts import AlertState, AlertStatus
from service.domain.incidents import Action, Actor
from service.rca.service import RcaService
from service.testing.scripted_values import ScriptedSource

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
TEMPLATES = Path(__file__).resolve().parents[2] / "incident_templates"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.yaml").write_text(PACK)
    return tmp_path


async def samples(db: Database) -> list[tuple[str, str, datetime, float]]:
    rows = await db.fetch("SELECT group_key, rule, at, value FROM alert_value_samples ORDER BY rule, at")
    return [(r["group_key"], r["rule"], r["at"], r["value"]) for r in rows]


def test_buckets_widen_as_a_run_ages_and_keep_one_row_each(rules_dir: Path) -> None:
    assert bucket_width(timedelta(minutes=5)) == 15
    assert bucket_width(timedelta(hours=2)) == 60
    assert bucket_width(timedelta(days=3)) == 300
    book = RuleBook(rules_dir, FrozenClock(T0))
    assert book.reload().accepted
    rule = next(r for r in book.current.rules() if r.name == "ErrorRateHigh")
    sampler = ValueSampler()
    start = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    for seconds in range(0, 3 * 3600 + 1, 5):  # every 5 s for three hours
        state = AlertState(status=AlertStatus.FIRING, value=float(seconds))
        sampler.observe(rule, {"s": state}, {"s": "g"}, start + timedelta(seconds=seconds))
    rows = sampler.pending_rows()
    # 15 s buckets for the first hour, then 1 min: 240 + 120 + the last one.
    assert len(rows) == 240 + 120 + 1
    assert [r[2] for r in rows] == sorted({r[2] for r in rows})


async def test_history_runs_from_pending_to_after_recovery_and_feeds_the_chart(
    db: Database, rules_dir: Path
) -> None:
    clock = FrozenClock(T0)
    source = ScriptedSource()
    evaluator, incidents = make_evaluator(db, rules_dir, clock, source)
    await evaluator.tick()
    assert await samples(db) == [], "a healthy rule writes nothing"

    source.set("ErrorRateHigh", [({"path": "/api"}, 0.05), ({"path": "/web"}, 0.04)])
    for _ in range(4):  # the rule runs every 30 s: pending for a minute, then firing
        await step(evaluator, clock, 30)
    source.set("ErrorRateHigh", [({"path": "/api"}, 0.14), ({"path": "/web"}, 0.04)])
    for _ in range(2):
        await step(evaluator, clock, 30)
    source.set("ErrorRateHigh", [({"path": "/api"}, 0.001), ({"path": "/web"}, 0.001)])
    await step(evaluator, clock, 30)
    [incident] = await incidents.list()
    assert incident.status.value == "mitigated"

    found = await samples(db)
    assert {(g, r) for g, r, _, _ in found} == {(incident.dedup_key, "ErrorRateHigh")}
    times = [at for _, _, at, _ in found]
    assert times == sorted(set(times)), "one row per bucket"
    assert all(int(at.timestamp()) % 15 == 0 for at in times)
    assert min(times) < incident.created_at, "the pending minute before the breach is kept"
    values = [v for *_, v in found]
    assert values[0] == pytest.approx(0.05), "the worst series of the group is kept"
    assert pytest.approx(0.14) in values
    assert values[-1] == pytest.approx(0.001), "the recovery is drawn too"
    assert len(found) == 7, "one sample per evaluation while 15 s buckets are finer than the interval"

    await incidents.act(incident.id, Action.RESOLVE, Actor("alice", "api"))
    rca = RcaService(db, incidents, TEMPLATES, clock=clock)
    await rca.generate(incident.id, Actor("alice", "api"))
    svg = await rca.chart_svg(incident.id)
    drawn = re.findall(r'<circle class="point"', svg)
    _, events = await incidents.get(incident.id)
    on_timeline = sum(1 for e in events if isinstance(e.data.get("value"), float))
    assert len(drawn) >= len(found) > on_timeline, "the chart draws the stored history"


async def test_an_unreadable_source_adds_no_samples(db: Database, rules_dir: Path) -> None:
    clock = FrozenClock(T0)
    source = ScriptedSource()
    evaluator, _ = make_evaluator(db, rules_dir, clock, source)
    source.set("ErrorRateHigh", [({"path": "/api"}, 0.05)])
    await evaluator.tick()
    await step(evaluator, clock, 30)
    assert len(await samples(db)) == 2
    source.set("ErrorRateHigh", None)  # the scrape failed: the states are held, nothing was read
    await step(evaluator, clock, 30)
    await step(evaluator, clock, 30)
    assert len(await samples(db)) == 2

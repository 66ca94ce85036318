"""The evaluation pipeline on real PostgreSQL: alert state, slots and incidents, from a scripted source."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from service.adapters.postgres.database import Database
from service.alerting.evaluator import Evaluator
from service.alerting.rulebook import RULE_RELOADS, RuleBook
from service.clock import FrozenClock
from service.domain.alerts import AlertState
from service.domain.incidents import Action, Actor
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.testing.scripted_values import ScriptedSource, ScriptedStatus

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)

PACK = (Path(__file__).resolve().parents[1] / "fixtures" / "app-rules.yaml").read_text()


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.yaml").write_text(PACK)
    return tmp_path


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def make_evaluator(
    db: Database, rules_dir: Path, clock: FrozenClock, source: ScriptedSource
) -> tuple[Evaluator, IncidentService]:
    book = RuleBook(rules_dir, clock)
    assert book.reload().accepted, book.last_problems
    incidents = IncidentService(db, clock=clock)
    return Evaluator(db=db, incidents=incidents, rulebook=book, source=source, clock=clock), incidents


async def step(evaluator: Evaluator, clock: FrozenClock, seconds: int = 30) -> None:
    clock.advance(timedelta(seconds=seconds))
    await evaluator.tick()


async def kinds(incidents: IncidentService, incident_id: int) -> list[str]:
    _, events = await incidents.get(incident_id)
    return [e.kind for e in events]


async def test_breach_opens_one_incident_raises_and_mitigates(
    db: Database, rules_dir: Path, clock: FrozenClock
) -> None:
    source = ScriptedSource()
    evaluator, incidents = make_evaluator(db, rules_dir, clock, source)
    source.set_value("ErrorRateHigh", 0.05, {"path": "/api"})
    await evaluator.tick()  # pending
    assert await incidents.list() == []
    await step(evaluator, clock)  # 30 s: still pending (for: 1m)
    assert await incidents.list() == []
    await step(evaluator, clock)  # 60 s: firing
    [incident] = await incidents.list()
    assert incident.severity is Severity.P2
    assert incident.dedup_key == 'rules:{alertname="ErrorRateHigh",service="app"}'
    assert incident.title == "Error rate high on app", "the title names the problem, not its first reading"
    _, events = await incidents.get(incident.id)
    declared = events[0]
    assert declared.kind == "declared"
    assert declared.actor == "rules"
    assert declared.data["value"] == pytest.approx(0.05)
    assert declared.data["threshold_text"] == "3%"
    assert declared.data["runbook"].startswith("004_2522b3a81675c108.txt")

    source.set_value("ErrorRateHigh", 0.12, {"path": "/api"})
    await step(evaluator, clock)
    await step(evaluator, clock)
    assert (await incidents.list())[0].severity is Severity.P2  # critical held only 30 s so far
    await step(evaluator, clock)  # critical held for 1m
    [incident] = await incidents.list()
    assert incident.severity is Severity.P1
    assert (await kinds(incidents, incident.id))[-2:] == ["attached", "severity_raised"]
    _, events = await incidents.get(incident.id)
    assert events[-1].data["summary"] == "12% of requests fail (critical: above 10%)"

    source.set_value("ErrorRateHigh", 0.001, {"path": "/api"})
    await step(evaluator, clock)
    [incident] = await incidents.list()
    assert incident.status.value == "mitigated"
    assert (await kinds(incidents, incident.id))[-2:] == ["alert_cleared", "mitigated"]

    source.set_value("ErrorRateHigh", 0.2, {"path": "/api"})
    await step(evaluator, clock)
    await step(evaluator, clock)
    await step(evaluator, clock)
    [again] = await incidents.list()
    assert again.id == incident.id
    assert again.status.value == "triggered"
    assert "retriggered" in await kinds(incidents, incident.id)


async def test_auto_resolve_rule_resolves(db: Database, rules_dir: Path, clock: FrozenClock) -> None:
    source = ScriptedSource()
    evaluator, incidents = make_evaluator(db, rules_dir, clock, source)
    source.set_value("QueueDepthHigh", 250, {"queue": "default"})
    await evaluator.tick()
    [incident] = await incidents.list()
    assert incident.severity is Severity.P1
    source.set_value("QueueDepthHigh", 3, {"queue": "default"})
    await step(evaluator, clock)
    incident, _ = await incidents.get(incident.id)
    assert incident.status.value == "resolved"


async def test_many_series_make_one_incident(db: Database, rules_dir: Path, clock: FrozenClock) -> None:
    source = ScriptedSource()
    evaluator, incidents = make_evaluator(db, rules_dir, clock, source)
    source.set("QueueDepthHigh", [({"queue": f"q{i}"}, 60.0 + i) for i in range(2000)])
    await evaluator.tick()
    [incident] = await incidents.list()
    _, events = await incidents.get(incident.id)
    assert [e.kind for e in events] == ["declared"]
    assert events[0].data["series_count"] == 2000
    assert events[0].data["value"] == pytest.approx(2059.0)  # the worst series is the headline
    linked = await db.fetchval("SELECT count(*) FROM alert_states WHERE incident_id = $1", incident.id)
    assert linked == 2000
    # half the series clear: the incident stays open; the rest clear: it resolves (auto_resolve)
    source.set("QueueDepthHigh", [({"queue": f"q{i}"}, 60.0 + i) for i in range(1000)])
    await step(evaluator, clock)
    assert (await incidents.get(incident.id))[0].status.value == "triggered"
    source.set("QueueDepthHigh", [])
    await step(evaluator, clock)
    assert (await incidents.get(incident.id))[0].status.value == "resolved"


async def test_restart_does_not_page_again_or_restart_for(
    db: Database, rules_dir: Path, clock: FrozenClock
) -> None:
    source = ScriptedSource()
    first, incidents = make_evaluator(db, rules_dir, clock, source)
    source.set_value("ErrorRateHigh", 0.05)
    await first.tick()
    await step(first, clock)
    second, _ = make_evaluator(db, rules_dir, clock, source)  # a new process: no memory
    await step(second, clock)  # 60 s after the breach began: fires, since `for` kept counting in PostgreSQL
    [incident] = await incidents.list()
    third, _ = make_evaluator(db, rules_dir, clock, source)
    await step(third, clock)
    await step(third, clock)
    assert await kinds(incidents, incident.id) == ["declared"]


async def test_for_fires_at_the_nth_evaluation_on_a_drifting_clock_across_restarts(
    db: Database, rules_dir: Path, clock: FrozenClock
) -> None:
    """`for: 1m` at a 30 s interval is two evaluations after the first breaching one, even when each
    evaluation runs a few milliseconds early and the process is replaced between them."""
    source = ScriptedSource()
    clock.advance(timedelta(seconds=1, milliseconds=4))
    evaluator, incidents = make_evaluator(db, rules_dir, clock, source)
    source.set_value("ErrorRateHigh", 0.05)
    await evaluator.tick()  # pending at 1.004 s into its slot
    for number, late_ms in enumerate((-3, -5)):
        evaluator, _ = make_evaluator(db, rules_dir, clock, source)  # a new process each time
        clock.advance(timedelta(seconds=30, milliseconds=late_ms))
        await evaluator.tick()
        fired = await incidents.list()
        assert len(fired) == number, f"evaluation {number + 1} after the breach"
    [incident] = fired
    assert incident.created_at - (T0 + timedelta(seconds=1, milliseconds=4)) == timedelta(
        seconds=59, milliseconds=992
    )


async def test_two_replicas_evaluate_each_slot_once(
    db: Database, rules_dir: Path, clock: FrozenClock
) -> None:
    source = ScriptedSource()
    a, incidents = make_evaluator(db, rules_dir, clock, source)
    b, _ = make_evaluator(db, rules_dir, clock, source)
    source.set_value("QueueDepthHigh", 500)
    for _ in range(5):
        await asyncio.gather(a.tick(), b.tick())
        clock.advance(timedelta(seconds=30))
    [incident] = await incidents.list()
    assert await kinds(incidents, incident.id) == ["declared"]
    slots = await db.fetchval("SELECT last_slot FROM rule_evaluations WHERE rule = 'QueueDepthHigh'")
    assert slots == int((T0 + timedelta(seconds=120)).timestamp() // 30)


async def test_unreadable_source_holds_state_and_raises_source_down(
    db: Database, rules_dir: Path, clock: FrozenClock
) -> None:
    source = ScriptedSource()
    evaluator, incidents = make_evaluator(db, rules_dir, clock, source)
    source.set_value("ErrorRateHigh", 0.05)
    await evaluator.tick()
    source.set("ErrorRateHigh", None)
    source.statuses = [ScriptedStatus(source="app", ok=False, error="connection refused")]
    for _ in range(3):
        await step(evaluator, clock)
    opened = await incidents.list()
    assert [i.title for i in opened] == ["scrape source 'app' cannot be read"]
    _, events = await incidents.get(opened[0].id)
    assert events[0].data["error"] == "connection refused"
    state = await db.fetchrow("SELECT status, value FROM alert_states WHERE rule = 'ErrorRateHigh'")
    assert state is not None
    assert state["status"] == "pending"
    source.statuses = [ScriptedStatus(source="app", ok=True)]
    await step(evaluator, clock)
    assert (await incidents.get(opened[0].id))[0].status.value == "resolved"


async def test_human_resolution_is_not_undone(db: Database, rules_dir: Path, clock: FrozenClock) -> None:
    source = ScriptedSource()
    evaluator, incidents = make_evaluator(db, rules_dir, clock, source)
    source.set_value("QueueDepthHigh", 500)
    await evaluator.tick()
    [incident] = await incidents.list()
    await incidents.act(incident.id, Action.RESOLVE, Actor("alice", "api"))
    source.set_value("QueueDepthHigh", 1)
    await step(evaluator, clock)
    assert await kinds(incidents, incident.id) == ["declared", "resolved"]


def test_bad_reload_keeps_last_good_set(rules_dir: Path, clock: FrozenClock) -> None:
    book = RuleBook(rules_dir, clock)
    assert book.reload().accepted
    before = RULE_RELOADS.labels(outcome="refused")._value.get()
    (rules_dir / "app.yaml").write_text(PACK.replace("warning: 3%", "warning: 3 parsecs"))
    result = book.reload()
    assert not result.accepted
    assert any("app.yaml:" in p and "parsecs" in p for p in result.problems), result.problems
    assert {r.name for r in book.current.enabled_rules()} == {"ErrorRateHigh", "QueueDepthHigh"}
    assert RULE_RELOADS.labels(outcome="refused")._value.get() == before + 1


def without_values(states: dict[str, AlertState]) -> dict[str, AlertState]:
    return {key: msgspec.structs.replace(state, value=None) for key, state in states.items()}


async def test_keep_firing_for_survives_a_restart_between_quiet_writes(
    db: Database, rules_dir: Path, clock: FrozenClock
) -> None:
    """Clocks of a series that keeps breaching are not rewritten each time; a restart must restore them."""
    (rules_dir / "app.yaml").write_text(PACK.replace("keep_firing_for: 0s", "keep_firing_for: 2m"))
    source = ScriptedSource()
    first, incidents = make_evaluator(db, rules_dir, clock, source)
    source.set_value("QueueDepthHigh", 500)
    await first.tick()
    for _ in range(6):  # three minutes of breaching after the row was written
        await step(first, clock)
    [incident] = await incidents.list()
    restarted, _ = make_evaluator(db, rules_dir, clock, source)
    source.set_value("QueueDepthHigh", 1)
    for _ in range(4):  # the first clear evaluation and 90 s after it: inside keep_firing_for
        await step(restarted, clock)
    assert (await incidents.get(incident.id))[0].status.value == "triggered"
    await step(restarted, clock)  # 2 minutes after the first clear evaluation, as Prometheus counts
    assert (await incidents.get(incident.id))[0].status.value == "resolved"


async def test_cached_states_match_what_postgres_holds(
    db: Database, rules_dir: Path, clock: FrozenClock
) -> None:
    """The evaluator trusts its in-memory copy between its own evaluations: it must equal the rows."""
    from service.alerting import state_store as alert_states

    source = ScriptedSource()
    evaluator, _ = make_evaluator(db, rules_dir, clock, source)
    script = [
        {"a": 0.05, "b": 0.2, "c": 0.01},
        {"a": 0.06, "b": 0.25, "c": 0.04},
        {"a": 0.07, "b": 0.02, "c": 0.04},
        {"a": 0.5, "c": 0.04},
        {"a": 0.5, "b": 0.11},
    ]
    for values in script:
        source.set("ErrorRateHigh", [({"path": p}, v) for p, v in values.items()])
        await step(evaluator, clock)
        cached = evaluator._cache["ErrorRateHigh"]
        async with db.connection() as conn:
            stored, ids = (await alert_states.load_many(conn, ["ErrorRateHigh"]))["ErrorRateHigh"]
        # values of series that simply go on breaching are refreshed every few slots, not every time
        assert without_values(stored) == without_values(cached.states)
        assert ids == cached.ids
    # another replica evaluates once: the first must notice and reload rather than trust its copy
    other, _ = make_evaluator(db, rules_dir, clock, source)
    source.set("ErrorRateHigh", [({"path": "a"}, 0.01)])
    await step(other, clock)
    source.set("ErrorRateHigh", [({"path": "a"}, 0.5)])
    await step(evaluator, clock)
    async with db.connection() as conn:
        stored, _ = (await alert_states.load_many(conn, ["ErrorRateHigh"]))["ErrorRateHigh"]
    assert without_values(stored) == without_values(evaluator._cache["ErrorRateHigh"].states)
    assert stored['{path="a"}'].breach_since == clock()  # the clear seen by the other replica counted


async def test_the_stored_value_of_a_series_that_goes_on_breaching_is_at_most_30_s_old(
    db: Database, rules_dir: Path, clock: FrozenClock
) -> None:
    """The value shown by /api/v1/alerts is refreshed even when it has stopped changing since the
    evaluation before the refresh (the in-memory copy is newer than the row)."""
    (rules_dir / "app.yaml").write_text(PACK.replace("interval: 30s", "interval: 10s"))
    source = ScriptedSource()
    evaluator, _ = make_evaluator(db, rules_dir, clock, source)
    source.set_value("QueueDepthHigh", 300)
    await evaluator.tick()  # fires: the row is written with 300
    source.set_value("QueueDepthHigh", 400)
    for _ in range(3):
        await step(evaluator, clock, seconds=10)
    stored = await db.fetchval("SELECT value FROM alert_states WHERE rule = 'QueueDepthHigh'")
    assert stored == 400


async def test_rules_sharing_a_group_clear_it_only_together(
    db: Database, rules_dir: Path, clock: FrozenClock
) -> None:
    shared = PACK.replace("        when: above", "        when: above\n        group_by: [service]")
    (rules_dir / "app.yaml").write_text(shared)
    source = ScriptedSource()
    evaluator, incidents = make_evaluator(db, rules_dir, clock, source)
    source.set_value("QueueDepthHigh", 300)
    source.set_value("ErrorRateHigh", 0.2)
    await evaluator.tick()
    await step(evaluator, clock)
    await step(evaluator, clock)
    [incident] = await incidents.list()
    assert incident.dedup_key == 'rules:{service="app"}'
    source.set_value("QueueDepthHigh", 1)  # auto_resolve rule clears, the error rate still fires
    await step(evaluator, clock)
    assert (await incidents.get(incident.id))[0].status.value == "triggered"
    source.set_value("ErrorRateHigh", 0.0)
    await step(evaluator, clock)
    assert (await incidents.get(incident.id))[0].status.value == "mitigated"


async def test_a_rule_that_fails_to_store_does_not_hold_back_the_others(
    db: Database, rules_dir: Path, clock: FrozenClock
) -> None:
    """PostgreSQL refuses a NUL byte in text; the batch is retried rule by rule so the other rule pages."""
    source = ScriptedSource()
    evaluator, incidents = make_evaluator(db, rules_dir, clock, source)
    source.set_value("ErrorRateHigh", 0.5, {"path": "/bad\x00path"})
    source.set_value("QueueDepthHigh", 300)
    assert await evaluator.tick() == 1
    [incident] = await incidents.list()
    assert incident.dedup_key == 'rules:{alertname="QueueDepthHigh",service="app"}'
    rules = {r["rule"] for r in await db.fetch("SELECT rule FROM rule_evaluations")}
    assert rules == {"QueueDepthHigh"}


SEVERITY = "        severity: {warning: P2, critical: P1}\n"
QUEUE_SUMMARY = '          summary: "queue depth {{ value }}"'
SHARED = (
    PACK.replace(SEVERITY, SEVERITY + "        group_by: [service]\n")
    .replace("        auto_resolve: true\n", "        group_by: [service]\n")
    .replace(
        QUEUE_SUMMARY, '          title: "Job queue backing up on {{ labels.service }}"\n' + QUEUE_SUMMARY
    )
)


async def test_the_title_follows_the_worst_alert_firing_now(
    db: Database, tmp_path: Path, clock: FrozenClock
) -> None:
    (tmp_path / "app.yaml").write_text(SHARED)
    source = ScriptedSource()
    evaluator, incidents = make_evaluator(db, tmp_path, clock, source)
    source.set_value("ErrorRateHigh", 0.05, {})
    for _ in range(3):
        await step(evaluator, clock)
    [incident] = await incidents.list()
    assert incident.title == "Error rate high on app"

    source.set_value("QueueDepthHigh", 250, {})  # critical at once: the worse problem now
    await step(evaluator, clock)
    [incident] = await incidents.list()
    assert (incident.severity, incident.title) == (Severity.P1, "Job queue backing up on app")

    source.set_value("QueueDepthHigh", 240, {})
    await step(evaluator, clock)
    assert (await incidents.list())[0].title == "Job queue backing up on app", "no flapping on readings"

    source.set_value("QueueDepthHigh", 3, {})
    await step(evaluator, clock)
    [incident] = await incidents.list()
    assert incident.title == "Error rate high on app", "what is left firing names the incident"
    assert "retitled" in await kinds(incidents, incident.id)

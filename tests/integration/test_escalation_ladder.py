"""The escalation ladder against a real PostgreSQL, driven by a frozen clock (no sleeping)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from escalation_support import Rig, rig

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.domain.incidents import Action, Actor
from service.domain.severity import Severity
from service.incidents.service import Conflict, IncidentNotFound

ALICE = Actor("alice", "api")


async def events(r: Rig, incident_id: int, *kinds: str) -> list[tuple[str, timedelta, dict[str, Any]]]:
    _, timeline = await r.incidents.get(incident_id)
    start = timeline[0].at
    return [(e.kind, e.at - start, e.data) for e in timeline if not kinds or e.kind in kinds]


async def advance(r: Rig, delta: timedelta) -> int:
    """Move the clock and run the worker until nothing more is due; returns steps performed."""
    r.clock.advance(delta)
    performed = 0
    while (result := await r.worker.run_once()).claimed:
        performed += result.performed
    return performed


async def declare(r: Rig, severity: Severity = Severity.P1, **labels: str) -> int:
    result = await r.incidents.declare(title="checkout down", severity=severity, actor=ALICE, labels=labels)
    return result.incident.id


async def test_unacknowledged_p1_walks_the_ladder_at_the_matrix_offsets(db: Database) -> None:
    r = rig(db)
    incident_id = await declare(r)
    assert await advance(r, timedelta(minutes=14, seconds=59)) == 0
    for _ in range(60 * 8):  # one step per simulated minute for eight hours
        await advance(r, timedelta(minutes=1) if _ else timedelta(seconds=1))
    steps = await events(r, incident_id, "escalated", "escalation_exhausted")
    ladder = [(k, at, d.get("level"), d.get("attempt")) for k, at, d in steps if d.get("reason") != "overdue"]
    m = timedelta(minutes=1)
    # 002: P1 acknowledged within 15 min; 004: L1 15 min, L2 30 min, L3 1 h, L4 2 h, then L4 twice more.
    assert ladder == [
        ("escalated", 15 * m, 1, 1),
        ("escalated", 30 * m, 2, 1),
        ("escalated", 60 * m, 3, 1),
        ("escalated", 120 * m, 4, 1),
        ("escalated", 240 * m, 4, 2),
        ("escalated", 360 * m, 4, 3),
        ("escalation_exhausted", 480 * m, 4, None),
    ]
    first = steps[0][2]
    assert first["level_name"] == "On-call engineer"
    assert first["reason"] == "ack_timeout"
    assert first["targets"]["pagerduty"] == ["default"]
    assert steps[1][2]["targets"]["pagerduty"] == ["tech-lead"]
    assert steps[3][2]["level_name"] == "CTO/VP Engineering"
    # 002 "When to Escalate": open twice P1's expected 4 h; already at the top, so the top is told again.
    overdue = [(at, d["level"]) for _, at, d in steps if d.get("reason") == "overdue"]
    assert overdue == [(480 * m, 4)]
    assert await advance(r, timedelta(days=7)) == 0


@pytest.mark.parametrize("ack_after_minutes", [5, 20, 45, 100])
async def test_acknowledge_at_any_point_stops_the_ladder(db: Database, ack_after_minutes: int) -> None:
    r = rig(db)
    incident_id = await declare(r)
    for _ in range(ack_after_minutes):
        await advance(r, timedelta(minutes=1))
    told_before = len(await events(r, incident_id, "escalated"))
    await r.incidents.act(incident_id, Action.ACKNOWLEDGE, ALICE)
    assert await advance(r, timedelta(hours=3)) == 0
    assert len(await events(r, incident_id, "escalated")) == told_before
    stopped = await events(r, incident_id, "escalation_stopped")
    assert [d for _, _, d in stopped] == [{"reason": "acknowledged"}]
    detail = await r.escalation.detail((await r.incidents.get(incident_id))[0])
    assert [p["kind"] for p in detail["pending"]] == ["overdue"]


async def test_severity_raise_moves_the_pending_step_to_the_tighter_deadline(db: Database) -> None:
    r = rig(db)
    incident_id = await declare(r, Severity.P2)
    await advance(r, timedelta(minutes=3))
    await r.incidents.change_severity(incident_id, Severity.P0, ALICE)
    assert await advance(r, timedelta(minutes=1)) == 0
    assert await advance(r, timedelta(minutes=1)) == 1  # P0's 5 minutes, counted from the declaration
    told = await events(r, incident_id, "escalated")
    assert [(at, d["level"]) for _, at, d in told] == [(timedelta(minutes=5), 1)]
    # lowering to P3 moves the pending L2 onto business hours (1 January is a holiday in the policy)
    await r.incidents.change_severity(incident_id, Severity.P3, ALICE)
    await advance(r, timedelta(minutes=15))
    assert [d["level"] for _, _, d in await events(r, incident_id, "escalated")] == [1]
    await r.incidents.change_severity(incident_id, Severity.P2, ALICE)  # back on the wall clock: overdue now
    await advance(r, timedelta(seconds=1))
    assert [d["level"] for _, _, d in await events(r, incident_id, "escalated")] == [1, 2]


async def test_p3_counts_business_hours_only(db: Database) -> None:
    r = rig(db)
    r.clock.now = r.clock.now.replace(day=2, hour=15)  # Friday 2 January 2026, 15:00 UTC
    incident_id = await declare(r, Severity.P3)
    await advance(r, timedelta(days=2, hours=19))  # Monday 10:00: 2 working hours so far
    assert await events(r, incident_id, "escalated") == []
    await advance(r, timedelta(hours=2))  # Monday 12:00: Friday 15-17 + Monday 9-11 = 4 h
    told = await events(r, incident_id, "escalated")
    assert [d["level"] for _, _, d in told] == [1]
    assert told[0][2]["targets"]["pagerduty"] == []  # 002 "Alert Channels": P3 does not page
    assert told[0][2]["targets"]["slack_channels"] == ["#alerts"]


async def test_resolve_cancels_everything_and_arms_rca_reminders(db: Database) -> None:
    r = rig(db)
    incident_id = await declare(r, Severity.P0)
    await advance(r, timedelta(minutes=6))
    await r.incidents.act(incident_id, Action.RESOLVE, ALICE)
    assert await advance(r, timedelta(hours=19, minutes=59)) == 0
    assert len(await events(r, incident_id, "escalated")) == 1
    await advance(r, timedelta(minutes=1))  # 20 h after resolution: 4 h before the 24 h draft deadline
    await advance(r, timedelta(hours=4))
    await advance(r, timedelta(hours=20))
    await advance(r, timedelta(hours=4))
    reminders = await events(r, incident_id, "rca_reminder")
    assert [(d["stage"], at - timedelta(minutes=6)) for _, at, d in reminders] == [
        ("draft", timedelta(hours=20)),
        ("draft", timedelta(hours=24)),
        ("final", timedelta(hours=44)),
        ("final", timedelta(hours=48)),
    ]
    assert await advance(r, timedelta(days=30)) == 0
    assert [d for _, _, d in await events(r, incident_id, "escalation_stopped")] == [{"reason": "resolved"}]


async def test_reopen_and_unacknowledge_rearm_the_ladder(db: Database) -> None:
    r = rig(db)
    incident_id = await declare(r)
    await r.incidents.act(incident_id, Action.RESOLVE, ALICE)
    await advance(r, timedelta(hours=1))
    await r.incidents.act(incident_id, Action.REOPEN, ALICE)
    await advance(r, timedelta(minutes=15))
    assert [d["level"] for _, _, d in await events(r, incident_id, "escalated")] == [1]
    await r.incidents.act(incident_id, Action.ACKNOWLEDGE, ALICE)
    await advance(r, timedelta(hours=1))
    await r.incidents.act(incident_id, Action.UNACKNOWLEDGE, ALICE)
    await advance(r, timedelta(minutes=15))
    kinds = [(k, d.get("reason")) for k, _, d in await events(r, incident_id)]
    assert kinds == [
        ("declared", None),
        ("resolved", None),
        ("escalation_stopped", "resolved"),
        ("reopened", None),
        ("escalation_rearmed", "reopened"),
        ("escalated", "ack_timeout"),
        ("acknowledged", None),
        ("escalation_stopped", "acknowledged"),
        ("unacknowledged", None),
        ("escalation_rearmed", "unacknowledged"),
        ("escalated", "ack_timeout"),
    ]
    assert await advance(r, timedelta(days=3)) > 0  # the draft reminder armed at resolution was cancelled...
    assert await events(r, incident_id, "rca_reminder") == []


async def test_overdue_incident_escalates_one_level(db: Database) -> None:
    r = rig(db)
    incident_id = await declare(r, Severity.P1)
    await r.incidents.act(incident_id, Action.ACKNOWLEDGE, ALICE)
    await advance(r, timedelta(hours=7, minutes=59))
    assert await events(r, incident_id, "escalated") == []
    await advance(r, timedelta(minutes=1))  # 2 x P1's expected 4 h
    told = await events(r, incident_id, "escalated")
    assert [(d["reason"], d["level"], d["level_name"]) for _, _, d in told] == [
        ("overdue", 2, "Technical lead")
    ]


async def test_escalate_now_and_service_policy(db: Database) -> None:
    r = rig(db)
    incident_id = await declare(r, Severity.P1, service="payments")
    info = await r.escalation.escalate_now(incident_id, Actor("bob", "slack"))
    assert (info.level, info.level_name, info.reason) == (1, "Payments on-call engineer", "manual")
    assert info.targets["pagerduty"] == ["payments"]
    assert info.next_level == 2
    assert info.next_due_at == r.clock.now + timedelta(minutes=15)
    await r.incidents.act(incident_id, Action.ACKNOWLEDGE, ALICE)
    second = await r.escalation.escalate_now(incident_id, Actor("bob", "slack"))
    assert (second.level, second.next_level) == (2, None)
    _, timeline = await r.incidents.get(incident_id)
    assert [(e.kind, e.actor) for e in timeline if e.kind == "escalated"] == [
        ("escalated", "bob"),
        ("escalated", "bob"),
    ]
    await r.incidents.act(incident_id, Action.RESOLVE, ALICE)
    with pytest.raises(Conflict):
        await r.escalation.escalate_now(incident_id, ALICE)
    with pytest.raises(IncidentNotFound):
        await r.escalation.escalate_now(999_999, ALICE)
    levels = r.escalation.oncall({"service": "payments"})
    assert [(lv.number, lv.delay) for lv in levels] == [
        (1, timedelta(minutes=15)),
        (2, timedelta(minutes=30)),
        (3, timedelta(hours=1)),
        (4, timedelta(hours=2)),
    ]
    assert r.escalation.oncall({"service": "api"})[0].policy == "default"


class CreepingClock(FrozenClock):
    """Every reading is later than the last, as on a loaded machine where each step of a transaction waits."""

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=700)
        return self.now


async def test_each_level_is_told_its_respond_within_after_the_one_before_as_the_timeline_shows(
    db: Database,
) -> None:
    r = rig(db, clock=CreepingClock())
    incident_id = await declare(r)
    await advance(r, timedelta(minutes=15))
    await advance(r, timedelta(minutes=15))
    told = await events(r, incident_id, "escalated")
    assert [data["level"] for _, _, data in told] == [1, 2]
    pending = await db.fetch(
        "SELECT level, due_at FROM escalation_steps WHERE incident_id = $1 AND state = 'pending'"
        " AND kind = 'escalate' ORDER BY due_at",
        incident_id,
    )
    _, timeline = await r.incidents.get(incident_id)
    level_1, level_2 = (e.at for e in timeline if e.kind == "escalated")
    # 002's matrix: level 2 has respond_within 15 min after level 1 was told (rules/policy/escalation.yaml)
    armed = await db.fetchval(
        "SELECT due_at FROM escalation_steps WHERE incident_id = $1 AND level = 2 AND kind = 'escalate'",
        incident_id,
    )
    assert armed - level_1 == timedelta(minutes=15), "level 2 is timed from the moment level 1 shows as told"
    assert level_2 >= armed
    assert pending, "the ladder goes on"

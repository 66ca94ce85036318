from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.domain.incidents import Action, Actor, InvalidTransition, Status
from service.domain.severity import Severity
from service.incidents.service import (
    Conflict,
    IncidentChange,
    IncidentNotFound,
    IncidentService,
    IncidentTransaction,
)

ALICE = Actor("alice", "api")


async def test_concurrent_declares_with_one_key_open_one_incident(database_url: str, db: Database) -> None:
    # Separate pools act like separate replicas racing on the same key.
    replicas = [Database(database_url, min_size=1, max_size=4) for _ in range(4)]
    try:
        services = [IncidentService(d) for d in replicas]
        results = await asyncio.gather(
            *(
                services[i % 4].declare(title="queue depth", severity=Severity.P2, actor=ALICE, dedup_key="q")
                for i in range(24)
            )
        )
    finally:
        for d in replicas:
            await d.close()
    assert sum(r.created for r in results) == 1
    assert len({r.incident.id for r in results}) == 1
    count = await db.fetchval("SELECT count(*) FROM incidents WHERE dedup_key = 'q'")
    assert count == 1
    attached = await db.fetchval("SELECT count(*) FROM incident_events WHERE kind = 'attached'")
    assert attached == 23


async def test_full_lifecycle_timeline(db: Database) -> None:
    clock = FrozenClock()
    service = IncidentService(db, clock=clock)
    start = clock.now
    declared = await service.declare(
        title="API error rate 12%", severity=Severity.P2, actor=Actor("rules", "rules"), dedup_key="err"
    )
    incident_id = declared.incident.id
    clock.advance(timedelta(minutes=1))
    await service.change_severity(incident_id, Severity.P1, Actor("rules", "rules"), reason="critical level")
    clock.advance(timedelta(minutes=2))
    await service.act(incident_id, Action.ACKNOWLEDGE, Actor("U123", "slack"))
    clock.advance(timedelta(minutes=1))
    await service.assign(incident_id, "bob", ALICE)
    await service.add_note(incident_id, "rolling back deploy 42", ALICE)
    clock.advance(timedelta(minutes=10))
    await service.act(incident_id, Action.MITIGATE, ALICE, note="rollback done")
    clock.advance(timedelta(minutes=30))
    final = await service.act(incident_id, Action.RESOLVE, Actor("PXYZ", "pagerduty"))

    incident, events = await service.get(incident_id)
    assert incident.status is Status.RESOLVED
    assert incident.severity is Severity.P1
    assert incident.assignee == "bob"
    assert final.resolved_at == start + timedelta(minutes=44)
    assert [(e.kind, e.actor, e.source) for e in events] == [
        ("declared", "rules", "rules"),
        ("severity_raised", "rules", "rules"),
        ("acknowledged", "U123", "slack"),
        ("assigned", "alice", "api"),
        ("note", "alice", "api"),
        ("mitigated", "alice", "api"),
        ("resolved", "PXYZ", "pagerduty"),
    ]
    assert [e.at - start for e in events] == [
        timedelta(0),
        timedelta(minutes=1),
        timedelta(minutes=3),
        timedelta(minutes=4),
        timedelta(minutes=4),
        timedelta(minutes=14),
        timedelta(minutes=44),
    ]
    assert events[1].data == {"from": "P2", "to": "P1", "reason": "critical level"}
    assert events[5].data["note"] == "rollback done"


async def test_invalid_transition_changes_nothing(db: Database) -> None:
    service = IncidentService(db)
    incident = (await service.declare(title="x", severity=Severity.P3, actor=ALICE)).incident
    await service.act(incident.id, Action.RESOLVE, ALICE)
    before = await service.get(incident.id)
    with pytest.raises(InvalidTransition):
        await service.act(incident.id, Action.ACKNOWLEDGE, ALICE)
    assert await service.get(incident.id) == before


async def test_reopen_refused_while_another_incident_holds_the_key(db: Database) -> None:
    service = IncidentService(db)
    first = (await service.declare(title="x", severity=Severity.P3, actor=ALICE, dedup_key="k")).incident
    await service.act(first.id, Action.RESOLVE, ALICE)
    second = await service.declare(title="x again", severity=Severity.P3, actor=ALICE, dedup_key="k")
    assert second.created
    with pytest.raises(Conflict, match="dedup key"):
        await service.act(first.id, Action.REOPEN, ALICE)
    incident, events = await service.get(first.id)
    assert incident.status is Status.RESOLVED
    assert events[-1].kind == "resolved"


async def test_attach_raises_severity_and_retriggers_mitigated(db: Database) -> None:
    service = IncidentService(db)
    first = (await service.declare(title="x", severity=Severity.P2, actor=ALICE, dedup_key="k")).incident
    await service.act(first.id, Action.MITIGATE, ALICE)
    again = await service.declare(title="x", severity=Severity.P1, actor=ALICE, dedup_key="k")
    assert not again.created
    assert again.incident.severity is Severity.P1
    assert again.incident.status is Status.TRIGGERED
    lower = await service.declare(title="x", severity=Severity.P3, actor=ALICE, dedup_key="k")
    assert lower.incident.severity is Severity.P1
    _, events = await service.get(first.id)
    assert [e.kind for e in events] == [
        "declared",
        "mitigated",
        "attached",
        "severity_raised",
        "retriggered",
        "attached",
    ]


async def test_observers_run_in_the_same_transaction(db: Database) -> None:
    seen: list[IncidentChange] = []

    async def failing_observer(tx: IncidentTransaction, change: IncidentChange) -> None:
        seen.append(change)
        raise RuntimeError("outbox write failed")

    service = IncidentService(db, observers=[failing_observer])
    with pytest.raises(RuntimeError):
        await service.declare(title="x", severity=Severity.P1, actor=ALICE, dedup_key="k")
    assert len(seen) == 1
    assert await db.fetchval("SELECT count(*) FROM incidents") == 0
    assert await db.fetchval("SELECT count(*) FROM incident_events") == 0


async def test_timeline_rows_are_immutable(db: Database) -> None:
    service = IncidentService(db)
    await service.declare(title="x", severity=Severity.P3, actor=ALICE)
    with pytest.raises(asyncpg.RaiseError, match="immutable"):
        await db.execute("UPDATE incident_events SET actor = 'mallory'")
    with pytest.raises(asyncpg.RaiseError, match="immutable"):
        await db.execute("DELETE FROM incident_events")


async def test_unknown_incident(db: Database) -> None:
    service = IncidentService(db)
    with pytest.raises(IncidentNotFound):
        await service.act(12345, Action.ACKNOWLEDGE, ALICE)
    with pytest.raises(IncidentNotFound):
        await service.get(12345)


async def test_after_commit_listeners_hear_every_kind_of_change(db: Database) -> None:
    heard: list[str] = []
    service = IncidentService(db, after_commit=[lambda change: heard.extend(e.kind for e in change.events)])

    async def receipt_on_declare(tx: IncidentTransaction, change: IncidentChange) -> None:
        # An observer's own event (as escalation and notifications write them) is a change too.
        if change.has("declared"):
            await service.record_in(tx, change.incident, "escalation_armed", ALICE)

    service.add_observer(receipt_on_declare)
    declared = await service.declare(title="disk full", severity=Severity.P3, actor=ALICE, dedup_key="disk")
    await service.add_note(declared.incident.id, "cleaning /var/log", ALICE)
    await service.record(declared.incident.id, "notification_sent", ALICE, {"channel": "slack"})
    assert heard == ["declared", "escalation_armed", "note", "notification_sent"]


async def test_after_commit_listeners_skip_what_rolled_back(db: Database) -> None:
    heard: list[str] = []
    service = IncidentService(db, after_commit=[lambda change: heard.extend(e.kind for e in change.events)])
    declared = await service.declare(title="queue stuck", severity=Severity.P2, actor=ALICE, dedup_key="qs")
    incident = declared.incident

    async def failing_step(tx: IncidentTransaction) -> None:
        async with tx.savepoint():
            await service.record_in(tx, incident, "escalated", ALICE)
            raise RuntimeError("step failed")

    async def failing_caller() -> None:
        async with service.transaction() as tx:
            await service.record_in(tx, incident, "note", ALICE, {"text": "lost"})
            raise RuntimeError("caller failed")

    async with service.transaction() as tx:
        with pytest.raises(RuntimeError):
            await failing_step(tx)
        await service.record_in(tx, incident, "note", ALICE, {"text": "kept"})
        assert heard == ["declared"]  # nothing is heard before the commit
    with pytest.raises(RuntimeError):
        await failing_caller()
    assert heard == ["declared", "note"]
    _, events = await service.get(incident.id)
    assert [e.kind for e in events] == ["declared", "note"]

"""Due rungs performed together (a backlog after an outage) write exactly what performing them one
by one writes: the `escalated` events and their stamps, the finished and next steps, the PagerDuty
triggers, Slack posts and updates, storm coalescing, `escalation_unmentioned` warnings; and a batch
that raises falls back to one by one, where only the failing step is postponed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from notification_harness import build_notifications, notification_settings

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.config.escalation_policy_files import load_escalation_policy
from service.config.notification_policy_files import load_notification_policy
from service.domain.event_kinds import EventKind
from service.domain.incidents import Action, Actor
from service.domain.severity import Severity
from service.escalation import steps_store
from service.escalation.arming import Arming
from service.escalation.performing import StepPerformer
from service.escalation.worker import EscalationWorker
from service.incidents.service import DeclareRequest, IncidentChange, IncidentService, IncidentTransaction

ROOT_POLICY = Path(__file__).resolve().parents[2] / "rules" / "policy"
RULES = Actor(name="rules", source="rules")
ALICE = Actor(name="alice", source="api")
_NUMBERED = re.compile(r"(?<=INC-)\d+|(?<=/incidents/)\d+")
_VARYING = {
    "human_id",
    "dedup_key",
    "id",
    "incident_id",
    "storm_key",
    "started_at",
    "timestamp",
    "open_since",
}
START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
COUNT = 9
LADDER = (timedelta(minutes=61), timedelta(minutes=40), timedelta(minutes=20))  # L1, L2, then P0 overdue


def _service(db: Database, clock: FrozenClock) -> tuple[IncidentService, StepPerformer]:
    notifications = load_notification_policy(ROOT_POLICY / "notifications.yaml")
    few = msgspec.structs.replace(notifications, storm_max_new=3)  # escalations' own posts make a storm
    incidents, _, _ = build_notifications(db, notification_settings(None, None), clock=clock, policy=few)
    policy, problems = load_escalation_policy(ROOT_POLICY / "escalation.yaml")
    assert policy is not None, problems
    incidents._observers.insert(0, Arming(policy, incidents))  # escalation first, as in production
    return incidents, StepPerformer(policy, incidents)


def _request(prefix: str, n: int) -> DeclareRequest:
    return DeclareRequest(
        title=f"checkout down on node-{n} <&>",
        severity=(Severity.P0, Severity.P1, Severity.P1)[n % 3],
        dedup_key=f"{prefix}-{n}",
        labels={"service": "checkout", "node": str(n)},
    )


async def _open(db: Database, incidents: IncidentService, prefix: str) -> list[int]:
    """COUNT incidents, the first acknowledged (its ladder stops), one with a Slack thread."""
    async with incidents.transaction() as tx:
        results = await incidents.declare_many_in(tx, [_request(prefix, n) for n in range(COUNT)], RULES)
    ids = [r.incident.id for r in results]
    await incidents.act(ids[0], Action.ACKNOWLEDGE, ALICE)
    await db.execute(
        "INSERT INTO slack_messages (incident_id, channel, channel_id, ts, created_at, updated_at)"
        " VALUES ($1, '#alerts', 'C1', '1.2', now(), now())",
        ids[1],
    )
    # Most were opened before #alerts was routed: the escalation posts there, not an update.
    await db.execute(
        "DELETE FROM notification_outbox WHERE incident_id = ANY($1::bigint[]) AND target = '#alerts'",
        ids[3:],
    )
    return ids


async def _one_by_one(incidents: IncidentService, performer: StepPerformer, ids: list[int]) -> None:
    """The path every step took before: each due step in its own transaction, in due order."""
    while True:
        async with incidents.transaction() as tx:
            rows = [
                r
                for r in await steps_store.claim_due(tx.conn, incidents.clock(), 500)
                if r.incident_id in ids
            ]
            if not rows:
                return
            row = rows[0]
            incident = await incidents.lock_in(tx, row.incident_id)
            await performer.perform(tx, incident, row, incidents.clock())


async def _together(worker: EscalationWorker) -> None:
    while (await worker.run_once()).claimed:
        pass


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items()) if k not in _VARYING}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    if isinstance(value, str):
        return _NUMBERED.sub("#", value)
    return value


async def _written(db: Database, ids: list[int]) -> list[Any]:
    found = []
    for incident_id in ids:
        born = await db.fetchval("SELECT created_at FROM incidents WHERE id = $1", incident_id)
        touched = await db.fetchval(
            "SELECT updated_at - created_at FROM incidents WHERE id = $1", incident_id
        )
        events = await db.fetch(
            "SELECT kind, actor, source, data, at FROM incident_events WHERE incident_id = $1 ORDER BY id",
            incident_id,
        )
        steps = await db.fetch(
            "SELECT kind, level, attempt, state, reason, due_at - $2::timestamptz AS due,"
            " armed_at - $2::timestamptz AS armed, finished_at - $2::timestamptz AS finished"
            " FROM escalation_steps WHERE incident_id = $1 ORDER BY id",
            incident_id,
            born,
        )
        intents = await db.fetch(
            "SELECT channel, kind, target, payload, next_attempt_at - $2::timestamptz AS due,"
            " created_at - $2::timestamptz AS created FROM notification_outbox WHERE incident_id = $1"
            " ORDER BY id",
            incident_id,
            born,
        )
        keys = await db.fetchval(
            "SELECT count(*) FROM pagerduty_dedup_keys WHERE incident_id = $1", incident_id
        )
        found.append(
            (
                touched,
                [(e["kind"], e["actor"], e["source"], _shape(e["data"]), e["at"] - born) for e in events],
                [tuple(s) for s in steps],
                [
                    (i["channel"], i["kind"], i["target"], _shape(i["payload"]), i["due"], i["created"])
                    for i in intents
                ],
                keys,
            )
        )  # fmt: skip
    return found


async def _summaries(db: Database, since: datetime, until: datetime) -> list[tuple[str, Any]]:
    rows = await db.fetch(
        "SELECT target, next_attempt_at - $1::timestamptz AS due FROM notification_outbox"
        " WHERE incident_id IS NULL AND created_at >= $1 AND created_at < $2 ORDER BY target, id",
        since,
        until,
    )
    return [(r["target"], r["due"]) for r in rows]


async def test_rungs_performed_together_write_what_one_by_one_writes(db: Database) -> None:
    clock = FrozenClock(START)
    incidents, performer = _service(db, clock)
    worker = EscalationWorker(db, performer, clock, batch_size=500)
    await db.execute(
        "INSERT INTO slack_directory (kind, name, slack_id, label, resolved_at, expires_at)"
        " VALUES ('usergroup', 'oncall', 'S1', 'oncall', now(), now() + interval '1 day'),"
        " ('workspace', 'url', NULL, 'https://acme.slack.com', now(), now() + interval '1 day')"
    )
    one = await _open(db, incidents, "one")
    for advance in LADDER:
        clock.advance(advance)
        await _one_by_one(incidents, performer, one)
    one_rows = await _written(db, one)
    await db.execute("UPDATE escalation_steps SET state = 'cancelled' WHERE state = 'pending'")
    clock.advance(START + timedelta(days=7) - clock())  # a new storm interval, the same business hour
    many = await _open(db, incidents, "many")
    for advance in LADDER:
        clock.advance(advance)
        await _together(worker)
    many_rows = await _written(db, many)
    told = [e[3]["reason"] for row in many_rows for e in row[1] if e[0] == EventKind.ESCALATED]
    assert told.count("ack_timeout") >= 2 * (COUNT - 1)  # two rungs of each one not acknowledged
    assert told.count("overdue") == COUNT // 3  # every P0, performed alone after the rungs
    assert any(e[0] == EventKind.ESCALATION_UNMENTIONED for row in many_rows for e in row[1])
    assert any(i[1] == "update" for row in many_rows for i in row[3])
    assert many_rows == one_rows
    week = timedelta(days=7)
    summaries = await _summaries(db, START + week, START + 2 * week)
    assert summaries  # the storm limit was reached, so the posts were coalesced
    assert summaries == await _summaries(db, START, START + week)


class _FailsFor:
    """An observer that breaks one incident's escalation, as a bug in a plug-in might."""

    def __init__(self, incident_id: int) -> None:
        self.incident_id = incident_id

    async def __call__(self, tx: IncidentTransaction, change: IncidentChange) -> None:
        if change.incident.id == self.incident_id and change.has(EventKind.ESCALATED):
            raise RuntimeError("plug-in broke")


async def test_a_batch_that_raises_goes_one_by_one_and_postpones_only_the_failing_step(db: Database) -> None:
    clock = FrozenClock(START)
    incidents, performer = _service(db, clock)
    worker = EscalationWorker(db, performer, clock, batch_size=500)
    ids = await _open(db, incidents, "fail")
    incidents.add_observer(_FailsFor(ids[2]))
    clock.advance(timedelta(minutes=20))
    result = await worker.run_once()
    assert result.performed == 7  # the first rungs of six P1 (due at 15 min) and two P0 (5 min), one broken
    told = await db.fetch(
        "SELECT incident_id FROM incident_events WHERE kind = 'escalated' ORDER BY incident_id"
    )
    expected = [i for n, i in enumerate(ids) if n and n % 3 and i != ids[2]]
    expected += [i for n, i in enumerate(ids) if n and not n % 3]  # P0: due at 5 minutes
    assert sorted(r["incident_id"] for r in told) == sorted(expected)
    broken = await db.fetchrow(
        "SELECT state, failures, last_error FROM escalation_steps"
        " WHERE incident_id = $1 AND kind = 'escalate'",
        ids[2],
    )
    assert broken is not None
    assert (broken["state"], broken["failures"]) == ("pending", 1)
    assert "plug-in broke" in broken["last_error"]

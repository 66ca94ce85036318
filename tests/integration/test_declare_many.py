"""Many incidents opened in one transaction (an alert storm) write exactly what opening them one by
one writes: the incidents, their `declared` events, escalation steps, PagerDuty and Slack intents
(storm summaries included), and a key already open (or repeated) attaches instead of opening."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from notification_harness import build_notifications, notification_settings

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.config.escalation_policy_files import load_escalation_policy
from service.domain.incidents import Actor
from service.domain.severity import Severity
from service.escalation.arming import Arming
from service.incidents.service import DeclareRequest, IncidentService

ROOT_POLICY = Path(__file__).resolve().parents[2] / "rules" / "policy"
_NUMBERED = re.compile(r"(?<=INC-)\d+|(?<=/incidents/)\d+")
RULES = Actor(name="rules", source="rules")
_VARYING = {"human_id", "dedup_key", "id", "incident_id", "storm_key", "started_at", "timestamp"}


def _service(db: Database, clock: FrozenClock, *, storm: bool) -> IncidentService:
    incidents, _, _ = build_notifications(db, notification_settings(None, None), clock=clock, storm=storm)
    policy, problems = load_escalation_policy(ROOT_POLICY / "escalation.yaml")
    assert policy is not None, problems
    # Escalation's observer runs before notifications', as the composition root orders them.
    incidents._observers.insert(0, Arming(policy, incidents))
    return incidents


def _request(prefix: str, n: int) -> DeclareRequest:
    severity = (Severity.P1, Severity.P2, Severity.P3)[n % 3]
    return DeclareRequest(
        title=f"disk full on node-{n} <&>",
        severity=severity,
        dedup_key=f"{prefix}-{n}",
        labels={"service": "db", "node": str(n)},
        details={"rule": "DiskFull", "value": 97.5 + n},
    )


def _shape(value: Any) -> Any:
    """A payload with what names one incident (ids, links, keys) left out, for comparing two runs."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items()) if k not in _VARYING}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    if isinstance(value, str):
        return _NUMBERED.sub("#", value)
    return value


async def _written(db: Database, prefix: str) -> list[Any]:
    incidents = await db.fetch(
        "SELECT id, title, severity, status, labels, created_at FROM incidents WHERE dedup_key LIKE $1"
        " ORDER BY id",
        f"{prefix}-%",
    )
    found = []
    for row in incidents:
        events = await db.fetch(
            "SELECT kind, actor, source, data FROM incident_events WHERE incident_id = $1 ORDER BY id",
            row["id"],
        )
        steps = await db.fetch(
            "SELECT kind, level, attempt, state, due_at - armed_at AS wait FROM escalation_steps"
            " WHERE incident_id = $1 ORDER BY kind",
            row["id"],
        )
        intents = await db.fetch(
            "SELECT channel, kind, target, payload, next_attempt_at - created_at AS delay"
            " FROM notification_outbox WHERE incident_id = $1 ORDER BY id",
            row["id"],
        )
        found.append(
            (
                row["title"], row["severity"], row["status"], row["labels"],
                [(e["kind"], e["actor"], e["source"], e["data"]) for e in events],
                [tuple(s) for s in steps],
                [(i["channel"], i["kind"], i["target"], _shape(i["payload"]), i["delay"]) for i in intents],
            )
        )  # fmt: skip
    return found


async def _summaries(db: Database, since: datetime, until: datetime) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT target, kind FROM notification_outbox WHERE incident_id IS NULL AND created_at >= $1"
        " AND created_at < $2 ORDER BY target",
        since,
        until,
    )
    return [(r["target"], r["kind"]) for r in rows]


async def _open_both_ways(db: Database, *, storm: bool, count: int) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))
    service = _service(db, clock, storm=storm)
    one_start = clock()
    for n in range(count):
        await service.declare(
            title=_request("one", n).title, severity=_request("one", n).severity, actor=RULES,
            dedup_key=f"one-{n}", labels=_request("one", n).labels, details=_request("one", n).details,
        )  # fmt: skip
    clock.advance(timedelta(days=7))  # a new storm interval, the same hour of the business week
    many_start = clock()
    async with service.transaction() as tx:
        results = await service.declare_many_in(tx, [_request("many", n) for n in range(count)], RULES)
    assert [r.created for r in results] == [True] * count
    one, many = await _written(db, "one"), await _written(db, "many")
    assert len(one) == count
    assert many == one
    later = many_start + timedelta(days=1)
    assert await _summaries(db, many_start, later) == await _summaries(db, one_start, many_start)


async def test_a_batch_writes_what_one_by_one_writes(db: Database) -> None:
    await _open_both_ways(db, storm=False, count=12)


async def test_a_storm_batch_coalesces_into_the_same_summaries(db: Database) -> None:
    await _open_both_ways(db, storm=True, count=30)
    summaries = await db.fetchval("SELECT count(*) FROM notification_outbox WHERE kind = 'storm_summary'")
    assert summaries > 0  # beyond the policy's limit per channel, the posts wait for a summary


async def test_an_open_key_or_a_repeated_one_attaches(db: Database) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))
    service = _service(db, clock, storm=True)
    await service.declare(title="already open", severity=Severity.P3, actor=RULES, dedup_key="k-open")
    requests = [
        _request("k", 1),
        DeclareRequest(title="again", severity=Severity.P1, dedup_key="k-open"),
        DeclareRequest(title="twice", severity=Severity.P3, dedup_key="k-1"),
    ]
    async with service.transaction() as tx:
        results = await service.declare_many_in(tx, requests, RULES)
    assert [r.created for r in results] == [True, False, False]
    assert results[2].incident.id == results[0].incident.id
    assert await db.fetchval("SELECT count(*) FROM incidents") == 2
    raised = await db.fetchval("SELECT severity FROM incidents WHERE dedup_key = 'k-open'")
    assert raised == Severity.P1.value  # attaching with a higher severity raises it
    kinds = await db.fetch(
        "SELECT kind FROM incident_events WHERE incident_id = $1 ORDER BY id", results[0].incident.id
    )
    assert [k["kind"] for k in kinds] == ["declared", "attached"]
    steps = await db.fetchval(
        "SELECT count(*) FROM escalation_steps WHERE incident_id = $1 AND state = 'pending'",
        results[0].incident.id,
    )
    assert steps == 2  # first rung and overdue, armed once

"""Retention deletes only what is finished and old, in batches, once per day across replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.domain.incidents import Actor
from service.domain.retention import RetentionPolicy
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.retention.job import Retention

POLICY = RetentionPolicy(
    sent_notifications_days=30, escalation_steps_days=90, rule_evaluations_days=30, rca_versions=2, batch=2
)


async def _seed(db: Database, now: datetime) -> int:
    declared = await IncidentService(db).declare(title="old", severity=Severity.P2, actor=Actor("a", "api"))
    incident = declared.incident.id
    await db.execute("DELETE FROM notification_outbox")  # the declaration's own intents are not under test
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    for status, at in [("sent", old)] * 5 + [("coalesced", old), ("sent", recent), ("dead", old)]:
        await db.execute(
            "INSERT INTO notification_outbox (incident_id, channel, kind, target, status, next_attempt_at,"
            " created_at, sent_at) VALUES ($1, 'slack', 'update', '#alerts', $2, $3, $3, $3)",
            incident,
            status,
            at,
        )
    await db.execute(
        "INSERT INTO notification_outbox (incident_id, channel, kind, target, status, next_attempt_at,"
        " created_at) VALUES ($1, 'pagerduty', 'trigger', 'default', 'pending', $2, $2)",
        incident,
        old,
    )
    for state, finished in [("done", now - timedelta(days=100)), ("cancelled", now - timedelta(days=100))]:
        await db.execute(
            "INSERT INTO escalation_steps (incident_id, kind, due_at, armed_at, state, finished_at)"
            " VALUES ($1, 'overdue', $2, $2, $3, $2)",
            incident,
            finished,
            state,
        )
    await db.execute(
        "INSERT INTO escalation_steps (incident_id, kind, due_at, armed_at, state, finished_at)"
        " VALUES ($1, 'overdue', $2, $2, 'done', $2), ($1, 'rca_reminder', $2, $2, 'pending', NULL)",
        incident,
        recent,
    )
    for rule, at in [("removed_rule", old), ("live_rule", recent)]:
        await db.execute(
            "INSERT INTO rule_evaluations (rule, last_slot, evaluated_at) VALUES ($1, 1, $2)", rule, at
        )
    await db.execute(
        "INSERT INTO slack_request_signatures (digest, seen_at, expires_at)"
        " VALUES ('\\x01', $1, $2), ('\\x02', $3, $4)",
        now - timedelta(hours=1),
        now - timedelta(minutes=50),
        now,
        now + timedelta(minutes=10),
    )
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO rca_documents (incident_id, current_version, template, created_at)"
            " VALUES ($1, 5, 'default', $2)",
            incident,
            now,
        )
        await conn.execute(
            "INSERT INTO rca_versions (incident_id, version, markdown, author, author_source, reason,"
            " created_at) SELECT $1, v, 'v' || v, 'a', 'api', 'edited', $2 FROM generate_series(1, 5) v",
            incident,
            now,
        )
    return incident


async def test_retention_deletes_finished_old_rows_in_batches_and_keeps_the_rest(db: Database) -> None:
    clock = FrozenClock(datetime(2026, 6, 1, 3, 0, tzinfo=UTC))
    incident = await _seed(db, clock())
    for age in (timedelta(days=400), timedelta(0)):
        await db.execute(
            "INSERT INTO alert_value_samples (group_key, rule, at, value) VALUES ('g', 'r', $1, 1)",
            clock() - age,
        )
    deleted = await Retention(db, POLICY, clock, "replica-a").run_if_due()
    assert deleted == {
        "sent_notifications": 6,
        "notification_attempts": 0,
        "escalation_steps": 2,
        "rule_evaluations": 1,
        "alert_value_samples": 1,
        "source_statuses": 0,
        "maintenance_notices": 0,
        "slack_request_signatures": 1,
        "rca_versions": 3,
    }
    left = await db.fetch("SELECT status, sent_at FROM notification_outbox ORDER BY id")
    assert sorted(r["status"] for r in left) == ["dead", "pending", "sent"]
    assert [r["state"] for r in await db.fetch("SELECT state FROM escalation_steps ORDER BY id")] == [
        "done",
        "pending",
    ]
    assert [r["rule"] for r in await db.fetch("SELECT rule FROM rule_evaluations")] == ["live_rule"]
    assert await db.fetchval("SELECT count(*) FROM alert_value_samples WHERE at = $1", clock()) == 1
    versions = await db.fetch("SELECT version FROM rca_versions WHERE incident_id = $1", incident)
    assert sorted(r["version"] for r in versions) == [4, 5]
    with pytest.raises(asyncpg.RaiseError, match="immutable"):
        await db.execute("DELETE FROM rca_versions WHERE version = 4")  # only retention may delete


async def test_retention_forgets_sources_no_longer_read_and_ended_window_notices(db: Database) -> None:
    clock = FrozenClock(datetime(2026, 6, 1, 3, 0, tzinfo=UTC))
    now, old, recent = clock(), clock() - timedelta(days=40), clock() - timedelta(days=1)
    async with db.connection() as conn:
        await conn.executemany(
            "INSERT INTO source_statuses (kind, source, instance, up, read_at, duration_seconds, replica)"
            " VALUES ($1, $2, $3, $4, $5, 0.01, 'r')",
            [
                ("scrape", "removed", "a:9100", True, old),
                ("scrape", "removed", "b:9100", False, old),
                ("sql", "removed_probe", "", True, old),
                ("scrape", "live", "a:9100", False, now),  # down, but read just now: kept
                ("scrape", "live", "b:9100", True, recent),
            ],
        )
        await conn.executemany(
            "INSERT INTO maintenance_notices (window_key, occurrence, name, starts_at, ends_at, adhoc,"
            " started_at, ended_at) VALUES ($1, $2, 'w', $2, $3, $4, $2, $5)",
            [
                ("recurring:nightly", old - timedelta(hours=1), old, False, old),
                ("one-off:1", old - timedelta(hours=2), old, True, old),
                ("one-off:2", old, now + timedelta(days=1), True, None),  # still open: owes its end
                ("recurring:nightly", recent - timedelta(hours=1), recent, False, recent),
            ],
        )
    deleted = await Retention(db, POLICY, clock, "replica-a").purge(now)
    assert (deleted["source_statuses"], deleted["maintenance_notices"]) == (3, 2)
    kept = await db.fetch("SELECT source, instance FROM source_statuses ORDER BY source, instance")
    assert [(r["source"], r["instance"]) for r in kept] == [("live", "a:9100"), ("live", "b:9100")]
    notices = await db.fetch("SELECT window_key, ended_at FROM maintenance_notices ORDER BY window_key")
    assert [(r["window_key"], r["ended_at"]) for r in notices] == [
        ("one-off:2", None),
        ("recurring:nightly", recent),
    ]
    keep_all = msgspec.structs.replace(POLICY, rule_evaluations_days=0, sent_notifications_days=0)
    await db.execute(
        "INSERT INTO source_statuses (kind, source, instance, up, read_at, duration_seconds, replica)"
        " VALUES ('scrape', 'removed', 'a:9100', true, $1, 0.01, 'r')",
        old,
    )
    assert "source_statuses" not in await Retention(db, keep_all, clock, "replica-a").purge(now)
    assert await db.fetchval("SELECT count(*) FROM source_statuses") == 3


async def test_one_run_per_day_across_replicas(db: Database, database_url: str) -> None:
    clock = FrozenClock(datetime(2026, 6, 1, 3, 0, tzinfo=UTC))
    await _seed(db, clock())
    pools = [Database(database_url, min_size=1, max_size=2) for _ in range(3)]
    try:
        replicas = [Retention(pool, POLICY, clock, f"replica-{n}") for n, pool in enumerate(pools)]
        results = await asyncio.gather(*(r.run_if_due() for r in replicas))
        assert sum(r is not None for r in results) == 1
        assert await replicas[0].run_if_due() is None  # done for today
        clock.advance(timedelta(days=1))
        assert await replicas[1].run_if_due() is not None  # a new day, a new run
        runs = await db.fetch("SELECT day, finished_at FROM retention_runs ORDER BY day")
        assert [r["day"].isoformat() for r in runs] == ["2026-06-01", "2026-06-02"]
        assert all(r["finished_at"] is not None for r in runs)
    finally:
        for pool in pools:
            await pool.close()


async def test_a_run_that_died_is_taken_over_after_an_hour(db: Database) -> None:
    clock = FrozenClock(datetime(2026, 6, 1, 3, 0, tzinfo=UTC))
    await db.execute(
        "INSERT INTO retention_runs (day, started_at, runner) VALUES ($1, $2, 'killed')",
        clock().date(),
        clock(),
    )
    job = Retention(db, POLICY, clock, "replica-b")
    clock.advance(timedelta(minutes=30))
    assert await job.run_if_due() is None
    clock.advance(timedelta(minutes=31))
    assert await job.run_if_due() is not None

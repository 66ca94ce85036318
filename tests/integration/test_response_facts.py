"""The response report's per-incident tables (migration 026) follow the timeline as it is written.

Whatever path writes the events (the incident service here, plain SQL for pages and escalations), the
firsts stay first across withdrawn acknowledgements and reopenings, severity changes move every row,
and the migration fills the tables for incidents written before it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from service.adapters.postgres.database import Database
from service.adapters.postgres.migrations import available_migrations, migrate
from service.clock import FrozenClock
from service.domain.incidents import Action, Actor
from service.domain.report_schedule import BusinessHours
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.reports.response_store import response_report
from service.testing.databases import create_scratch_database, drop_database

FACTS_MIGRATION = 26
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
ALICE = Actor("alice", "slack")
FIRSTS = """
    SELECT f.severity, f.service, f.first_acknowledged_at, f.first_mitigated_at, f.first_resolved_at,
           (SELECT min(at) FROM incident_events WHERE incident_id = $1 AND kind = 'acknowledged') AS acked,
           (SELECT min(at) FROM incident_events WHERE incident_id = $1 AND kind = 'mitigated') AS mitigated,
           (SELECT min(at) FROM incident_events WHERE incident_id = $1 AND kind = 'resolved') AS resolved
    FROM incident_response_facts f WHERE f.incident_id = $1
"""


async def _firsts(db: Database, incident_id: int) -> dict[str, Any]:
    async with db.connection() as conn:
        row = await conn.fetchrow(FIRSTS, incident_id)
    assert row is not None, "no facts row for the incident"
    facts = dict(row)
    # The table says what the timeline says, whatever happened since.
    assert facts["first_acknowledged_at"] == facts["acked"]
    assert facts["first_mitigated_at"] == facts["mitigated"]
    assert facts["first_resolved_at"] == facts["resolved"]
    return facts


async def _act(
    service: IncidentService, clock: FrozenClock, incident_id: int, minutes: int, action: Action
) -> None:
    clock.now = T0 + timedelta(minutes=minutes)
    await service.act(incident_id, action, ALICE)


async def test_firsts_survive_unack_reack_reopen_and_resolve(db: Database) -> None:
    clock = FrozenClock(T0)
    service = IncidentService(db, clock=clock)
    opened = await service.declare(
        title="checkout errors",
        severity=Severity.P2,
        actor=Actor("rules", "rules"),
        labels={"service": "checkout"},
        details={"rule": "checkout_error_rate"},
    )
    incident = opened.incident.id
    facts = await _firsts(db, incident)
    assert (facts["severity"], facts["service"], facts["first_acknowledged_at"]) == (2, "checkout", None)

    await _act(service, clock, incident, 3, Action.ACKNOWLEDGE)
    await _act(service, clock, incident, 5, Action.UNACKNOWLEDGE)
    await _act(service, clock, incident, 9, Action.ACKNOWLEDGE)
    facts = await _firsts(db, incident)
    assert facts["first_acknowledged_at"] == T0 + timedelta(minutes=3)

    clock.now = T0 + timedelta(minutes=10)
    await service.change_severity(incident, Severity.P1, ALICE)
    await _act(service, clock, incident, 20, Action.MITIGATE)
    await _act(service, clock, incident, 30, Action.RESOLVE)
    await _act(service, clock, incident, 40, Action.REOPEN)
    facts = await _firsts(db, incident)
    assert facts["severity"] == 1
    assert facts["first_mitigated_at"] == T0 + timedelta(minutes=20)
    assert facts["first_resolved_at"] == T0 + timedelta(minutes=30)

    await _act(service, clock, incident, 45, Action.ACKNOWLEDGE)
    await _act(service, clock, incident, 70, Action.RESOLVE)
    facts = await _firsts(db, incident)
    assert facts["first_acknowledged_at"] == T0 + timedelta(minutes=3)
    assert facts["first_resolved_at"] == T0 + timedelta(minutes=30)

    report = await response_report(
        db,
        since=T0 - timedelta(days=1),
        until=T0 + timedelta(days=1),
        service="checkout",
        severities=[Severity.P1],
        hours=BusinessHours(),
    )
    assert report["overall"]["incidents"] == 1
    assert report["overall"]["mtta_median_seconds"] == 180.0
    assert report["overall"]["mttr_median_seconds"] == 1800.0
    assert report["alerts"]["by_rule"] == [
        {"rule": "checkout_error_rate", "alerts": 1, "incidents": 1, "flaps": 0}
    ]


async def _insert_events(
    conn: asyncpg.Connection, incident_id: int, rows: list[tuple[int, str, Any]]
) -> None:
    await conn.executemany(
        "INSERT INTO incident_events (incident_id, at, kind, actor, source, data)"
        " VALUES ($1, $2, $3, 'test', 'test', $4)",
        [(incident_id, T0 + timedelta(minutes=m), kind, json.dumps(data)) for m, kind, data in rows],
    )


TIMELINE: list[tuple[int, str, Any]] = [
    (0, "declared", {"rule": "queue_depth"}),
    (1, "notification_sent", {"channel": "pagerduty", "kind": "trigger", "target": "default"}),
    (2, "notification_sent", {"channel": "slack", "kind": "trigger", "target": "#ops"}),
    (6, "acknowledged", {}),
    (15, "escalated", {"level": 2, "targets": {"slack_users": ["@lead", "@sre"], "pagerduty": ["tl"]}}),
    (20, "retriggered", {"rule": "queue_depth"}),
    (21, "retriggered", {"rule": "queue_depth"}),
    (30, "resolved", {}),
]


async def _tables(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "facts": [
            tuple(r)
            for r in await conn.fetch(
                "SELECT severity, service, first_acknowledged_at, first_resolved_at, tta_seconds, ttr_seconds"
                " FROM incident_response_facts"
            )
        ],
        "tallies": [
            tuple(r)
            for r in await conn.fetch(
                "SELECT severity, kind, key, alerts, flaps, escalations FROM incident_response_tallies"
                " ORDER BY kind, key"
            )
        ],
        "contacts": [
            tuple(r)
            for r in await conn.fetch(
                "SELECT severity, via, kind, target FROM incident_response_contacts"
                " ORDER BY via, kind, target"
            )
        ],
    }


EXPECTED = {
    "facts": [(3, "db", T0 + timedelta(minutes=6), T0 + timedelta(minutes=30), 360.0, 1800.0)],
    "tallies": [(3, "level", "2", 0, 0, 1), (3, "rule", "queue_depth", 3, 2, 0)],
    "contacts": [
        (3, "escalation", "pagerduty", "tl"),
        (3, "escalation", "slack_users", "@lead"),
        (3, "escalation", "slack_users", "@sre"),
        (3, "page", None, "default"),
    ],
}
INCIDENT = (
    "INSERT INTO incidents (dedup_key, title, severity, status, labels, created_by, source, created_at,"
    " updated_at) VALUES ('k', 'queue', 3, 'resolved', '{\"service\": \"db\"}', 'rules', 'rules', $1, $1)"
    " RETURNING id"
)


async def test_written_by_sql_and_backfilled_by_the_migration(pg_admin_url: str) -> None:
    """The same timeline gives the same rows whether the triggers saw it or the migration backfilled it."""
    for backfill in (False, True):
        url = await create_scratch_database(pg_admin_url)
        try:
            conn = await asyncpg.connect(url)
            try:
                if backfill:
                    await _migrate_before_facts(conn)
                else:
                    await migrate(conn)
                incident = await conn.fetchval(INCIDENT, T0)
                for row in TIMELINE:  # one statement each, as the service writes them
                    await _insert_events(conn, incident, [row])
                if backfill:
                    assert await conn.fetchval("SELECT to_regclass('incident_response_facts')") is None
                    await migrate(conn)
                assert await _tables(conn) == EXPECTED, f"backfill={backfill}"
                await conn.execute("UPDATE incidents SET severity = 0 WHERE id = $1", incident)
                moved = await _tables(conn)
                assert {row[0] for rows in moved.values() for row in rows} == {0}
            finally:
                await conn.close()
        finally:
            await drop_database(pg_admin_url, url)


async def _migrate_before_facts(conn: asyncpg.Connection) -> None:
    """The schema as it was before migration 026, recorded as applied, so `migrate` applies only 026."""
    await conn.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    for migration in available_migrations():
        if migration.version < FACTS_MIGRATION:
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )

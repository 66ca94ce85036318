"""The one-statement road for new alerts of a group whose incident is open: it stores only what the full
road would store without an incident change, and nothing once what mutes alerts has changed; and its
answer, given before the connection is back in the pool."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from service.adapters.postgres.database import Database
from service.alerting import pushed_store as store
from service.alerting.early_release import committed
from service.alerting.pushed import Origin, PushedAlert, fingerprint
from service.domain.mute_verdicts import NOT_MUTED, Verdict

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
GROUP = 'pushed:{service="pay"}'


def _row(instance: str, severity: int = 2, verdict: Verdict = NOT_MUTED, group: str = GROUP) -> store.Row:
    labels = {"alertname": "Down", "service": "pay", "instance": instance}
    alert = PushedAlert(
        fingerprint=fingerprint(labels),
        labels=labels,
        annotations={"summary": "down"},
        starts_at=NOW,
        ends_at=NOW + timedelta(minutes=4),
        ends_explicit=True,
        generator_url="",
        origin=Origin.PROMETHEUS,
    )
    return store.Row(alert=alert, group_key=group, severity=severity, verdict=verdict)


async def _incident(db: Database, status: str = "triggered", severity: int = 2) -> int:
    async with db.connection() as conn:
        found: int = await conn.fetchval(
            "INSERT INTO incidents (dedup_key, title, severity, status, created_by, source, created_at,"
            " updated_at) VALUES ($1, 'pay down', $2, $3, 'prometheus', 'prometheus', $4, $4) RETURNING id",
            GROUP,
            severity,
            status,
            NOW,
        )
        return found


async def _generation(db: Database) -> int:
    async with db.connection() as conn:
        found: int = await conn.fetchval("SELECT coalesce((SELECT generation FROM mute_generation), 0)")
        return found


async def _stored(db: Database) -> dict[str, int | None]:
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT labels->>'instance' AS i, incident_id FROM pushed_alerts")
        return {r["i"]: r["incident_id"] for r in rows}


async def test_new_alerts_join_the_open_incident_and_the_rest_are_left(db: Database) -> None:
    incident = await _incident(db, severity=2)
    rows = [
        _row("a"),
        _row("b", severity=3),
        _row("worse", severity=1),  # would raise the incident's severity: the full road's
        _row("muted", severity=0, verdict=Verdict(silenced_by=("s1",))),
        _row("elsewhere", group='pushed:{service="db"}'),  # no open incident: the full road opens one
    ]
    async with db.connection() as conn:
        done = await store.insert_joining(conn, rows, NOW, await _generation(db))
    assert done == {rows[0].alert.fingerprint, rows[1].alert.fingerprint, rows[3].alert.fingerprint}
    assert await _stored(db) == {"a": incident, "b": incident, "muted": None}
    async with db.connection() as conn:
        events = await conn.fetchval("SELECT count(*) FROM incident_events WHERE incident_id = $1", incident)
        assert events == 0
        again = await store.insert_joining(conn, [_row("a")], NOW, await _generation(db))
    assert again == set()  # stored already: whatever it is now, the full road decides


async def test_a_mitigated_incident_is_not_joined(db: Database) -> None:
    await _incident(db, status="mitigated")
    async with db.connection() as conn:
        assert await store.insert_joining(conn, [_row("a")], NOW, await _generation(db)) == set()
    assert await _stored(db) == {}


async def test_nothing_is_written_once_mutes_have_changed(db: Database) -> None:
    await _incident(db)
    seen = await _generation(db)
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO mute_generation (singleton, generation) VALUES (true, $1)"
            " ON CONFLICT (singleton) DO UPDATE SET generation = $1",
            seen + 1,
        )
        assert await store.insert_joining(conn, [_row("a")], NOW, seen) == set()
    assert await _stored(db) == {}


async def test_an_early_answer_is_the_statement_s_and_so_is_its_error(db: Database) -> None:
    assert await committed(db, lambda conn: conn.fetchval("SELECT 41 + 1")) == 42
    with pytest.raises(asyncpg.UndefinedTableError):
        await committed(db, lambda conn: conn.fetchval("SELECT * FROM no_such_table"))
    for _ in range(20):  # every connection went back to the pool, one at a time or not
        assert await committed(db, lambda conn: conn.fetchval("SELECT 1")) == 1

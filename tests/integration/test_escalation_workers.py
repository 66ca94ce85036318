"""Several workers (as separate replicas would be) share one timer table: each step fires exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from escalation_support import rig

from service.adapters.postgres.database import Database
from service.clock import FrozenClock

SEED_INCIDENTS = """
INSERT INTO incidents (dedup_key, title, severity, status, labels, created_by, source, created_at, updated_at)
SELECT 'k-' || n, 'load ' || n, 1, 'triggered', '{}'::jsonb, 'bench', 'api', $1, $1
FROM generate_series(1, $2) AS n
"""
SEED_STEPS = """
INSERT INTO escalation_steps (incident_id, kind, level, due_at, armed_at)
SELECT id, 'escalate', 1, $1::timestamptz + (id % 7) * interval '1 second', $1 FROM incidents
"""


async def drain(worker_rig: object) -> int:
    performed = 0
    worker = worker_rig.worker  # type: ignore[attr-defined]
    while (result := await worker.run_once()).claimed:
        performed += result.performed
        await asyncio.sleep(0)
    return performed


async def test_two_workers_perform_each_of_1000_due_steps_once(db: Database, database_url: str) -> None:
    clock = FrozenClock()
    await db.execute(SEED_INCIDENTS, clock.now, 1000)
    await db.execute(SEED_STEPS, clock.now)
    clock.advance(timedelta(minutes=1))
    replicas = [Database(database_url, min_size=1, max_size=2) for _ in range(2)]
    try:
        rigs = [rig(replica, clock, batch_size=25) for replica in replicas]
        counts = await asyncio.gather(*(drain(r) for r in rigs))
    finally:
        for replica in replicas:
            await replica.close()
    assert sum(counts) == 1000
    assert all(count > 0 for count in counts), counts  # both really took part
    per_incident = await db.fetch(
        "SELECT incident_id, count(*) AS n FROM incident_events WHERE kind = 'escalated' GROUP BY incident_id"
    )
    assert len(per_incident) == 1000
    assert {row["n"] for row in per_incident} == {1}
    assert await db.fetchval("SELECT count(*) FROM escalation_steps WHERE state = 'done'") == 1000
    pending = await db.fetch(
        "SELECT level, count(*) AS n FROM escalation_steps WHERE state = 'pending' GROUP BY 1"
    )
    assert [(row["level"], row["n"]) for row in pending] == [(2, 1000)]

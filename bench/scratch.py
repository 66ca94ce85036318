"""A scratch database for one benchmark: created and migrated before, dropped after.

The server is the one bench/harness.py names; logs go to the bench log file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import harness

from service.adapters.postgres.database import Database
from service.adapters.postgres.migrations import migrate
from service.testing.databases import create_scratch_database, drop_database


async def _in_scratch(admin_url: str, run: Callable[[str], Awaitable[None]]) -> None:
    url = await create_scratch_database(admin_url, prefix="incidentd_bench")
    try:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        await run(url)
    finally:
        await drop_database(admin_url, url)


def run_in_scratch(run: Callable[[str], Awaitable[None]]) -> None:
    harness.quiet_logs()
    asyncio.run(_in_scratch(harness.admin_database_url(), run))


async def seed_incidents(db: Database, count: int) -> None:
    """`count` triggered P1 incidents with ids 1..count, written in one statement."""
    await db.execute(
        "INSERT INTO incidents (dedup_key, title, severity, status, labels, created_by, source,"
        " created_at, updated_at) SELECT 'b-' || n, 'bench ' || n, 1, 'triggered', '{}'::jsonb, 'bench',"
        " 'api', now(), now() FROM generate_series(1, $1) AS n",
        count,
    )

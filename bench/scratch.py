"""A scratch database for one benchmark: created and migrated before, dropped after.

The server is TEST_DATABASE_URL or DATABASE_URL, else the local `test` database's server.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import asyncpg

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
    admin = (
        os.environ.get("TEST_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/test"
    )
    asyncio.run(_in_scratch(admin, run))


async def seed_incidents(db: Database, count: int) -> None:
    """`count` triggered P1 incidents with ids 1..count, written in one statement."""
    await db.execute(
        "INSERT INTO incidents (dedup_key, title, severity, status, labels, created_by, source,"
        " created_at, updated_at) SELECT 'b-' || n, 'bench ' || n, 1, 'triggered', '{}'::jsonb, 'bench',"
        " 'api', now(), now() FROM generate_series(1, $1) AS n",
        count,
    )

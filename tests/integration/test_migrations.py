from __future__ import annotations

import asyncio

import asyncpg

from service.adapters.postgres.migrations import available_migrations, migrate, pending_migrations
from service.testing.databases import create_scratch_database, drop_database


async def test_from_empty_then_idempotent(pg_admin_url: str) -> None:
    url = await create_scratch_database(pg_admin_url, prefix="incidentd_mig")
    try:
        conn = await asyncpg.connect(url)
        try:
            first = await migrate(conn)
            assert [m.version for m in first] == [m.version for m in available_migrations()]
            assert await pending_migrations(conn) == []
            assert await migrate(conn) == []
            tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
            assert {"incidents", "incident_events", "schema_migrations"} <= tables
        finally:
            await conn.close()
    finally:
        await drop_database(pg_admin_url, url)


async def test_replicas_migrating_together_apply_each_migration_once(pg_admin_url: str) -> None:
    url = await create_scratch_database(pg_admin_url, prefix="incidentd_mig")
    try:
        conns = [await asyncpg.connect(url) for _ in range(4)]
        try:
            results = await asyncio.gather(*(migrate(c) for c in conns))
            applied = sorted(m.version for result in results for m in result)
            assert applied == [m.version for m in available_migrations()]
            rows = await conns[0].fetchval("SELECT count(*) FROM schema_migrations")
            assert rows == len(available_migrations())
        finally:
            for c in conns:
                await c.close()
    finally:
        await drop_database(pg_admin_url, url)

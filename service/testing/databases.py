"""Throwaway databases on a real PostgreSQL, one per test session.

Each session (a developer's run, CI, a benchmark) gets its own freshly created
database, so runs never see each other's rows even on a shared server.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


async def create_scratch_database(admin_url: str, prefix: str = "incidentd_test") -> str:
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def truncate_all(conn: asyncpg.Connection) -> None:
    """Empty every application table but keep the schema and its migration record."""
    tables = [
        row["tablename"]
        for row in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
    ]
    if tables:
        joined = ", ".join(f'"{t}"' for t in tables)
        await conn.execute(f"TRUNCATE {joined} RESTART IDENTITY CASCADE")

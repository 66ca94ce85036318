"""Shared fixtures: a real PostgreSQL for the whole session, emptied before each test that asks for it.

TEST_DATABASE_URL points at a server we may create databases on (CI: the
machine's PostgreSQL); without it an embedded server is started under
.data/test-postgres. Either way each session works in a database of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from service.adapters.postgres.database import Database
from service.adapters.postgres.migrations import migrate
from service.testing import child_processes
from service.testing.databases import create_scratch_database, drop_database, truncate_all


def _interrupted(signum: int, _frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM/SIGHUP end the run like Ctrl-C, so fixtures' teardown stops the processes they started."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupted)


def pytest_unconfigure(config: pytest.Config) -> None:
    child_processes.kill_all()  # anything a fixture could not stop (interrupted mid-setup)


ROOT = Path(__file__).resolve().parent.parent


def require_tool(name: str, package: str) -> str:
    """The path of a real peer binary (prometheus, amtool, chromium).

    Under CI (CI=true) a missing tool fails the test, because `.ci/run` installs it; on a developer's
    machine the test is skipped with the apt-get line that brings the tool.
    """
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed: apt-get install {package}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url:
        yield url
        return
    from service.adapters.postgres.embedded import start_embedded

    uri, server = start_embedded(ROOT / ".data" / "test-postgres")
    yield uri
    server.cleanup()


@pytest.fixture(scope="session")
async def database_url(pg_admin_url: str) -> AsyncIterator[str]:
    url = await create_scratch_database(pg_admin_url)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    yield url
    await drop_database(pg_admin_url, url)


@pytest.fixture(scope="session")
async def session_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, min_size=1, max_size=10)
    yield db
    await db.close()


@pytest.fixture
async def db(session_db: Database) -> Database:
    """The session's database, emptied first, so each test starts from nothing."""
    async with session_db.connection() as conn:
        await truncate_all(conn)
    return session_db

"""`incidentd users`: the password comes from standard input, is stored only as an argon2 hash."""

from __future__ import annotations

import os
import subprocess
import sys

from service.adapters.postgres.database import Database

SECRET = "stdin-only password 42"


def _run(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "INCIDENTD_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "service", "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def test_add_list_remove(db: Database, database_url: str) -> None:
    added = _run(database_url, "add", "grace", "--role", "viewer", stdin=SECRET + "\n")
    assert added.returncode == 0, added.stderr
    assert SECRET not in added.stdout + added.stderr
    stored = await db.fetchrow("SELECT role, password_hash FROM users WHERE name = 'grace'")
    assert stored is not None
    assert stored["role"] == "viewer"
    assert stored["password_hash"].startswith("$argon2id$")
    assert SECRET not in stored["password_hash"]

    again = _run(database_url, "add", "grace", stdin=SECRET + "\n")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    short = _run(database_url, "add", "hopper", stdin="short\n")
    assert short.returncode == 2
    assert "at least 10 characters" in short.stderr

    listed = _run(database_url, "list")
    assert listed.stdout.split("\t")[:2] == ["grace", "viewer"]
    assert _run(database_url, "remove", "grace").returncode == 0
    assert _run(database_url, "remove", "grace").returncode == 1
    assert await db.fetchval("SELECT count(*) FROM users") == 0

"""`incidentd users add|list|remove`, and the first admin account `incidentd serve` creates.

Passwords are read from standard input (without echo on a terminal), never from argv,
so they stay out of shell history, `ps` and logs.
"""

from __future__ import annotations

import getpass
import secrets
import sys
from datetime import UTC, datetime

import asyncpg

from service.adapters.postgres.database import _init_connection
from service.adapters.postgres.migrations import migrate
from service.web import accounts
from service.web.accounts import AccountError, Role

FIRST_ADMIN = "admin"


def read_password(stdin_is_tty: bool | None = None) -> str:
    tty = sys.stdin.isatty() if stdin_is_tty is None else stdin_is_tty
    if tty:
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise AccountError("password: the two entries differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def _connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    await migrate(conn)
    return conn


async def users_command(url: str, command: str, name: str | None, role: str, password: str | None) -> int:
    conn = await _connect(url)
    try:
        if command == "list":
            for user in await accounts.list_users(conn):
                print(f"{user.name}\t{user.role}\t{user.created_at.isoformat()}")
            return 0
        assert name is not None
        if command == "add":
            assert password is not None
            user = await accounts.add_user(conn, name, password, Role(role), datetime.now(UTC))
            print(f"added {user.name} ({user.role})")
            return 0
        if await accounts.remove_user(conn, name):
            print(f"removed {name}; their sessions have ended")
            return 0
        print(f"incidentd: no user named {name!r}", file=sys.stderr)
        return 1
    finally:
        await conn.close()


async def ensure_first_admin(url: str) -> str | None:
    """Create `admin` with a random password when there is no account at all; returns that password.

    That password has been printed or written to a file, so the first login must replace it.

    Two replicas starting together cannot both create it: the insert is ON CONFLICT DO NOTHING
    and only the one that inserted reports a password.
    """
    conn = await _connect(url)
    try:
        if await accounts.count_users(conn):
            return None
        password = secrets.token_urlsafe(15)
        try:
            await accounts.add_user(
                conn, FIRST_ADMIN, password, Role.ADMIN, datetime.now(UTC), must_change_password=True
            )
        except AccountError:
            return None
        return password
    finally:
        await conn.close()

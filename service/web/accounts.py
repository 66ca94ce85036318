"""Local console accounts: names, roles and argon2id password hashes, kept in PostgreSQL.

Hashing is deliberately slow and memory-hard, so it runs in a thread; a login never
blocks the event loop that serves everyone else's pages.
"""

from __future__ import annotations

import asyncio
import enum
import re
from datetime import datetime, timedelta

import asyncpg
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MIN_PASSWORD = 10


class Role(enum.StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"

    @property
    def can_act(self) -> bool:
        """Responders and admins run incidents and edit RCAs; viewers only read."""
        return self is not Role.VIEWER


class User(msgspec.Struct, frozen=True):
    name: str
    role: Role
    created_at: datetime
    must_change_password: bool = False


class AccountError(Exception):
    """A name or password that cannot be stored; the message says which and why."""


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise AccountError(
            f"user name {name!r}: use 1-100 letters, digits, '.', '_', '@' or '-',"
            " starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(stored_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _HASHER.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


# A hash of nothing anyone knows: verifying against it costs what a real check costs,
# so an unknown user name answers no faster than a wrong password.
_DUMMY_HASH = _HASHER.hash("incidentd-no-such-user")


def _user(row: asyncpg.Record) -> User:
    return User(
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        must_change_password=row["must_change_password"],
    )


async def add_user(
    conn: asyncpg.Connection,
    name: str,
    password: str,
    role: Role,
    at: datetime,
    *,
    must_change_password: bool = False,
) -> User:
    check_name(name)
    check_password(password)
    digest = await hash_password(password)
    row = await conn.fetchrow(
        "INSERT INTO users (name, password_hash, role, created_at, must_change_password)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING"
        " RETURNING name, role, created_at, must_change_password",
        name,
        digest,
        role.value,
        at,
        must_change_password,
    )
    if row is None:
        raise AccountError(f"user {name!r} already exists")
    return _user(row)


async def remove_user(conn: asyncpg.Connection, name: str) -> bool:
    """Remove the account; its sessions go with it (ON DELETE CASCADE)."""
    result: str = await conn.execute("DELETE FROM users WHERE name = $1", name)
    return result.endswith(" 1")


async def list_users(conn: asyncpg.Connection) -> list[User]:
    return [
        _user(r)
        for r in await conn.fetch(
            "SELECT name, role, created_at, must_change_password FROM users ORDER BY name"
        )
    ]


async def exists(conn: asyncpg.Connection, name: str) -> bool:
    found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE name = $1)", name)
    return found


async def change_password(conn: asyncpg.Connection, name: str, current: str, new: str, at: datetime) -> None:
    """Replace the password after checking the current one; clears a forced change."""
    check_password(new)
    if new == current:
        raise AccountError("new password: choose one different from the current password")
    if await authenticate(conn, name, current) is None:
        raise AccountError("current password: that is not your current password")
    await conn.execute(
        "UPDATE users SET password_hash = $2, must_change_password = false, password_changed_at = $3"
        " WHERE name = $1",
        name,
        await hash_password(new),
        at,
    )


async def count_users(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM users")
    return count


async def authenticate(conn: asyncpg.Connection, name: str, password: str) -> User | None:
    row = await conn.fetchrow(
        "SELECT name, role, created_at, must_change_password, password_hash FROM users WHERE name = $1", name
    )
    if row is None:
        await verify_password(_DUMMY_HASH, password)
        return None
    if not await verify_password(row["password_hash"], password):
        return None
    return _user(row)


# --- failed-login rate limits ------------------------------------------------------------------------

FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20


async def login_blocked(conn: asyncpg.Connection, name: str, address: str, now: datetime) -> bool:
    """Too many recent failures for this name or from this address; checked before any hashing."""
    since = now - FAILURE_WINDOW
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM login_failures WHERE user_name = $1 AND at > $3) AS by_user,"
        " (SELECT count(*) FROM login_failures WHERE address = $2 AND at > $3) AS by_address",
        name,
        address,
        since,
    )
    assert row is not None
    return bool(row["by_user"] >= MAX_FAILURES_PER_USER or row["by_address"] >= MAX_FAILURES_PER_ADDRESS)


async def record_failure(conn: asyncpg.Connection, name: str, address: str, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO login_failures (user_name, address, at) VALUES ($1, $2, $3)", name[:200], address, now
    )
    await conn.execute("DELETE FROM login_failures WHERE at < $1", now - FAILURE_WINDOW)


async def clear_failures(conn: asyncpg.Connection, name: str) -> None:
    await conn.execute("DELETE FROM login_failures WHERE user_name = $1", name)

"""Console sessions in PostgreSQL, so any replica serves any browser and a restart logs nobody out.

The cookie carries a random token; the table holds only its SHA-256 digest, so a
database dump cannot be replayed as a login. Each session has its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import asyncpg
import msgspec

from service.web.accounts import Role

COOKIE = "incidentd_session"
SESSION_LIFETIME = timedelta(hours=12)
# last_seen_at is refreshed at most this often: a page view should not cost a write.
TOUCH_EVERY = timedelta(minutes=1)


class Session(msgspec.Struct, frozen=True, kw_only=True):
    user_name: str
    role: Role
    csrf_token: str
    expires_at: datetime
    flash: str | None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create(
    conn: asyncpg.Connection, user_name: str, now: datetime, lifetime: timedelta = SESSION_LIFETIME
) -> str:
    """A new session for the user; returns the cookie value (never stored)."""
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO web_sessions (token_digest, user_name, csrf_token, created_at, last_seen_at, expires_at)"
        " VALUES ($1, $2, $3, $4, $4, $5)",
        _digest(token),
        user_name,
        secrets.token_urlsafe(32),
        now,
        now + lifetime,
    )
    await conn.execute("DELETE FROM web_sessions WHERE expires_at < $1", now)
    return token


async def lookup(conn: asyncpg.Connection, token: str, now: datetime) -> Session | None:
    """The live session behind a cookie, or None when it is unknown or expired."""
    row = await conn.fetchrow(
        "SELECT s.user_name, u.role, s.csrf_token, s.expires_at, s.flash, s.last_seen_at"
        " FROM web_sessions s JOIN users u ON u.name = s.user_name"
        " WHERE s.token_digest = $1 AND s.expires_at > $2",
        _digest(token),
        now,
    )
    if row is None:
        return None
    if now - row["last_seen_at"] > TOUCH_EVERY:
        await conn.execute(
            "UPDATE web_sessions SET last_seen_at = $2 WHERE token_digest = $1", _digest(token), now
        )
    return Session(
        user_name=row["user_name"],
        role=Role(row["role"]),
        csrf_token=row["csrf_token"],
        expires_at=row["expires_at"],
        flash=row["flash"],
    )


async def set_flash(conn: asyncpg.Connection, token: str, message: str | None) -> None:
    await conn.execute("UPDATE web_sessions SET flash = $2 WHERE token_digest = $1", _digest(token), message)


async def delete(conn: asyncpg.Connection, token: str) -> None:
    await conn.execute("DELETE FROM web_sessions WHERE token_digest = $1", _digest(token))

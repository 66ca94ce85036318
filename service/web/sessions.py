"""Console sessions in PostgreSQL, so any replica serves any browser and a restart logs nobody out.

The cookie carries a random token; the table holds only its SHA-256 digest, so a
database dump cannot be replayed as a login. Each session has its own CSRF token.
A session ends at whichever comes first: its absolute limit from login, or its idle
limit after the last request (an open incident page's live stream counts as use).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import asyncpg
import msgspec

from service.web.accounts import Role

COOKIE = "incidentd_session"


class SessionLifetime(msgspec.Struct, frozen=True, kw_only=True):
    idle: timedelta = timedelta(hours=2)
    absolute: timedelta = timedelta(hours=12)

    @property
    def touch_every(self) -> timedelta:
        """last_seen_at is refreshed at most this often: a page view should not cost a write, and the
        idle limit stays accurate to a sixtieth of itself (at most a minute)."""
        return min(timedelta(minutes=1), self.idle / 60)


SESSION_LIFETIME = SessionLifetime()


class Session(msgspec.Struct, frozen=True, kw_only=True):
    user_name: str
    role: Role
    csrf_token: str
    expires_at: datetime
    flash: str | None
    must_change_password: bool = False


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create(
    conn: asyncpg.Connection, user_name: str, now: datetime, lifetime: SessionLifetime = SESSION_LIFETIME
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
        now + lifetime.absolute,
    )
    await conn.execute(
        "DELETE FROM web_sessions WHERE expires_at < $1 OR last_seen_at < $2", now, now - lifetime.idle
    )
    return token


async def lookup(
    conn: asyncpg.Connection, token: str, now: datetime, lifetime: SessionLifetime = SESSION_LIFETIME
) -> Session | None:
    """The live session behind a cookie, or None when it is unknown, past its limit or idle too long."""
    row = await conn.fetchrow(
        "SELECT s.user_name, u.role, s.csrf_token, s.expires_at, s.flash, s.last_seen_at,"
        " u.must_change_password FROM web_sessions s JOIN users u ON u.name = s.user_name"
        " WHERE s.token_digest = $1 AND s.expires_at > $2 AND s.last_seen_at > $3",
        _digest(token),
        now,
        now - lifetime.idle,
    )
    if row is None:
        return None
    if now - row["last_seen_at"] > lifetime.touch_every:
        await conn.execute(
            "UPDATE web_sessions SET last_seen_at = $2 WHERE token_digest = $1", _digest(token), now
        )
    return Session(
        user_name=row["user_name"],
        role=Role(row["role"]),
        csrf_token=row["csrf_token"],
        expires_at=row["expires_at"],
        flash=row["flash"],
        must_change_password=row["must_change_password"],
    )


async def set_flash(conn: asyncpg.Connection, token: str, message: str | None) -> None:
    await conn.execute("UPDATE web_sessions SET flash = $2 WHERE token_digest = $1", _digest(token), message)


async def delete(conn: asyncpg.Connection, token: str) -> None:
    await conn.execute("DELETE FROM web_sessions WHERE token_digest = $1", _digest(token))


async def end_others(conn: asyncpg.Connection, user_name: str, keep_token: str | None) -> None:
    """After a password change every other browser logged in as this person is logged out."""
    await conn.execute(
        "DELETE FROM web_sessions WHERE user_name = $1 AND token_digest IS DISTINCT FROM $2",
        user_name,
        _digest(keep_token) if keep_token else None,
    )

"""Console accounts over HTTP against real PostgreSQL: session lifetimes, the forced first password
change, changing one's password, and an authenticating proxy's user header."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from test_web_sessions import PASSWORD, login, settings

from service.adapters.postgres.database import Database
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.web import accounts, users_cli
from service.web.accounts import Role
from service.web.component import make_build
from service.web.options import WebOptions
from service.web.sessions import SessionLifetime

Client = AsyncTestClient[Any]
PROXY = "10.0.0.2"


class PeerFromHeader:
    """Stands in for the network: the test says which address a request arrives from."""

    def __init__(self, app: Litestar) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            peer = dict(scope["headers"]).get(b"x-test-peer", b"192.0.2.50").decode()
            scope = {**scope, "client": (peer, 40000)}
        await self.app(scope, receive, send)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
async def people(db: Database, clock: FrozenClock) -> None:
    async with db.connection() as conn:
        await accounts.add_user(conn, "ada", PASSWORD, Role.RESPONDER, clock())
        await accounts.add_user(conn, "vic", PASSWORD, Role.VIEWER, clock())


async def _client(database_url: str, clock: FrozenClock, options: WebOptions) -> AsyncIterator[Client]:
    app = build_app(settings(), database_url, clock=clock, components=[make_build(options)])
    async with AsyncTestClient(app=PeerFromHeader(app)) as client:
        await wait_until_ready(app)
        yield client


@pytest.fixture
async def short_sessions(database_url: str, clock: FrozenClock, people: None) -> AsyncIterator[Client]:
    lifetime = SessionLifetime(idle=timedelta(minutes=30), absolute=timedelta(hours=2))
    async for client in _client(database_url, clock, WebOptions(session_lifetime=lifetime)):
        yield client


@pytest.fixture
async def behind_proxy(database_url: str, clock: FrozenClock, people: None) -> AsyncIterator[Client]:
    options = WebOptions(proxy_header="x-forwarded-email", proxy_from=(ipaddress.ip_network("10.0.0.0/8"),))
    async for client in _client(database_url, clock, options):
        yield client


async def test_a_session_ends_after_its_idle_limit_and_at_its_absolute_limit_however_busy(
    short_sessions: Client, clock: FrozenClock
) -> None:
    client = short_sessions
    assert await login(client) == 303
    for _ in range(4):  # used every 25 minutes: the idle limit never passes, 1 h 40 in all
        clock.advance(timedelta(minutes=25))
        assert (await client.get("/", follow_redirects=False)).status_code == 200
    clock.advance(timedelta(minutes=25))  # 2 h 05 after login: past the absolute limit
    assert (await client.get("/", follow_redirects=False)).status_code == 303

    assert await login(client) == 303
    clock.advance(timedelta(minutes=31))
    idle = await client.get("/", follow_redirects=False)
    assert idle.status_code == 303
    assert idle.headers["location"] == "/login?next=/"


async def _csrf(client: Client, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get(path)).text)
    assert found is not None
    return found.group(1)


async def test_the_first_admin_must_replace_the_one_time_password_before_anything_else(
    database_url: str, db: Database, clock: FrozenClock
) -> None:
    one_time = await users_cli.ensure_first_admin(database_url)
    assert one_time is not None
    async for client in _client(database_url, clock, WebOptions()):
        assert await login(client, "admin", one_time) == 303
        first = await client.get("/", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == "/account/password?next=/"
        csrf = await _csrf(client, "/account/password?next=/")
        refused = await client.post(
            "/incidents/1/notes", data={"text": "x", "csrf_token": csrf}, follow_redirects=False
        )
        assert refused.status_code == 403

        wrong = await client.post(
            "/account/password",
            data={"csrf_token": csrf, "current_password": "not it at all", "new_password": "a new pass 123",
                  "repeat_password": "a new pass 123", "next": "/"},
        )  # fmt: skip
        assert wrong.status_code == 422
        assert "current password" in wrong.text.lower()
        done = await client.post(
            "/account/password",
            data={"csrf_token": csrf, "current_password": one_time, "new_password": "a new pass 123",
                  "repeat_password": "a new pass 123", "next": "/rules"},
            follow_redirects=False,
        )  # fmt: skip
        assert done.status_code == 303
        assert done.headers["location"] == "/rules"
        page = await client.get("/", follow_redirects=False)
        assert page.status_code == 200
        assert "Password changed" in page.text
        client.cookies.clear()
        assert await login(client, "admin", one_time) == 401
        assert await login(client, "admin", "a new pass 123") == 303
        assert (await client.get("/", follow_redirects=False)).status_code == 200
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT must_change_password FROM users WHERE name = 'admin'") is False


async def test_changing_a_password_logs_out_the_persons_other_browsers(
    database_url: str, clock: FrozenClock, people: None
) -> None:
    async for laptop in _client(database_url, clock, WebOptions()):
        async for phone in _client(database_url, clock, WebOptions()):
            assert await login(laptop) == 303
            assert await login(phone) == 303
            csrf = await _csrf(laptop, "/account/password")
            mismatch = await laptop.post(
                "/account/password",
                data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": "another one 123",
                      "repeat_password": "another one 124"},
            )  # fmt: skip
            assert mismatch.status_code == 422
            changed = await laptop.post(
                "/account/password",
                data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": "another one 123",
                      "repeat_password": "another one 123"},
                follow_redirects=False,
            )  # fmt: skip
            assert changed.status_code == 303
            assert (await laptop.get("/", follow_redirects=False)).status_code == 200
            assert (await phone.get("/", follow_redirects=False)).status_code == 303


async def test_the_proxy_header_is_believed_only_from_the_proxy_and_only_for_known_people(
    behind_proxy: Client, db: Database
) -> None:
    client = behind_proxy
    from_proxy = {"x-test-peer": PROXY, "x-forwarded-email": "ada"}
    page = await client.get("/", headers=from_proxy, follow_redirects=False)
    assert page.status_code == 200
    assert ">ada <span" in page.text
    assert "incidentd_session" in client.cookies  # a session of her own, for CSRF tokens
    csrf = await _csrf(client, "/silences")
    made = await client.post(
        "/silences",
        headers=from_proxy,
        data={"csrf_token": csrf, "matchers": "service=payments", "duration": "1h", "comment": "db swap"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT created_by FROM silences") == "ada"

    client.cookies.clear()
    direct = await client.get(
        "/", headers={"x-test-peer": "192.0.2.7", "x-forwarded-email": "ada"}, follow_redirects=False
    )
    assert direct.status_code == 303  # not from the proxy: the header means nothing
    assert direct.headers["location"].startswith("/login")
    unknown = await client.get(
        "/", headers={"x-test-peer": PROXY, "x-forwarded-email": "mallory@example.com"}
    )
    assert unknown.status_code == 403
    assert "no account" in unknown.text

    password = await client.get("/account/password", headers=from_proxy)
    assert "keeps no password for you" in password.text
    assert 'name="new_password"' not in password.text
    client.cookies.clear()

    assert await login(client, "vic") == 303  # vic's cookie, but the proxy now vouches for ada
    switched = await client.get("/", headers=from_proxy)
    assert ">ada <span" in switched.text


async def test_failed_logins_count_the_client_behind_a_trusted_proxy(
    behind_proxy: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts, "MAX_FAILURES_PER_ADDRESS", 3)
    client = behind_proxy

    async def attempt(name: str, password: str, headers: dict[str, str]) -> int:
        form = await client.get("/login", headers=headers)
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        response = await client.post(
            "/login",
            headers=headers,
            data={"name": name, "password": password, "csrf_token": token.group(1)},
            follow_redirects=False,
        )
        client.cookies.clear()
        return response.status_code

    attacker = {"x-test-peer": PROXY, "x-forwarded-for": "198.51.100.1, 203.0.113.5"}
    for name in ("u1", "u2", "u3"):
        assert await attempt(name, "wrong wrong wrong", attacker) == 401
    assert await attempt("ada", PASSWORD, attacker) == 429  # 203.0.113.5, whatever it claims before
    neighbour = {"x-test-peer": PROXY, "x-forwarded-for": "203.0.113.6"}
    assert await attempt("ada", PASSWORD, neighbour) == 303  # same proxy, another client

    spoofer = {"x-test-peer": "192.0.2.9", "x-forwarded-for": "203.0.113.77"}
    for name in ("u4", "u5", "u6"):
        assert await attempt(name, "wrong wrong wrong", spoofer) == 401
    elsewhere = {"x-test-peer": "192.0.2.9", "x-forwarded-for": "203.0.113.78"}
    assert await attempt("ada", PASSWORD, elsewhere) == 429  # counted against the real peer

"""Console logins and sessions over HTTP, against real PostgreSQL: two apps stand in for two replicas."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.adapters.postgres.database import Database
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.settings import Settings, load_settings
from service.web import accounts
from service.web.accounts import Role
from service.web.component import make_build

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough password"
Client = AsyncTestClient[Litestar]


def settings(public_url: str = "http://127.0.0.1:8080") -> Settings:
    loaded = load_settings({"INCIDENTD_API_TOKENS": "bot=writer-token-1", "INCIDENTD_PUBLIC_URL": public_url})
    return msgspec.structs.replace(
        loaded, rules_dir=ROOT / "rules", templates_dir=ROOT / "incident_templates", workers=False
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


async def _client(database_url: str, clock: FrozenClock, public_url: str = "http://127.0.0.1:8080") -> Client:
    from service.web.options import WebOptions

    app = build_app(settings(public_url), database_url, clock=clock, components=[make_build(WebOptions())])
    return AsyncTestClient(app=app)


@pytest.fixture
async def replicas(
    db: Database, database_url: str, clock: FrozenClock
) -> AsyncIterator[tuple[Client, Client]]:
    async with db.connection() as conn:
        await accounts.add_user(conn, "ada", PASSWORD, Role.RESPONDER, clock())
    first, second = await _client(database_url, clock), await _client(database_url, clock)
    async with first as a, second as b:
        await wait_until_ready(a.app)
        await wait_until_ready(b.app)
        yield a, b


async def login(client: Client, name: str = "ada", password: str = PASSWORD) -> int:
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    response = await client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": token.group(1), "next": "/"},
        follow_redirects=False,
    )
    return response.status_code


async def test_a_session_made_on_one_replica_works_on_another_and_logout_ends_it_everywhere(
    replicas: tuple[Client, Client],
) -> None:
    first, second = replicas
    assert await login(first) == 303
    cookie = first.cookies.get("incidentd_session")
    assert cookie
    second.cookies.set("incidentd_session", cookie)
    page = await second.get("/")
    assert page.status_code == 200
    assert "ada" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    await first.post("/logout", data={"csrf_token": csrf.group(1)})
    assert (await second.get("/", follow_redirects=False)).status_code == 303


async def test_sessions_expire(replicas: tuple[Client, Client], clock: FrozenClock) -> None:
    first, _ = replicas
    assert await login(first) == 303
    assert (await first.get("/")).status_code == 200
    clock.advance(timedelta(hours=12, seconds=1))
    expired = await first.get("/", follow_redirects=False)
    assert expired.status_code == 303
    assert expired.headers["location"] == "/login?next=/"


async def test_failed_logins_are_limited_per_user_even_with_the_right_password_after(
    replicas: tuple[Client, Client], db: Database
) -> None:
    first, second = replicas
    for _ in range(accounts.MAX_FAILURES_PER_USER):
        assert await login(first, password="wrong wrong wrong") == 401
    assert await login(second) == 429  # another replica counts the same failures: they live in PostgreSQL
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM web_sessions") == 0


async def test_a_login_form_without_its_csrf_cookie_is_refused(replicas: tuple[Client, Client]) -> None:
    first, _ = replicas
    response = await first.post("/login", data={"name": "ada", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403
    assert "incidentd_session" not in first.cookies


async def test_state_changes_need_the_session_csrf_token(
    replicas: tuple[Client, Client], db: Database
) -> None:
    first, _ = replicas
    created = await first.post(
        "/api/v1/incidents/",
        json={"title": "x", "severity": "P2"},
        headers={"Authorization": "Bearer writer-token-1"},
    )
    incident_id = created.json()["incident"]["id"]
    assert await login(first) == 303
    refused = await first.post(f"/incidents/{incident_id}/action", data={"action": "acknowledge"})
    assert refused.status_code == 403
    page = await first.get(f"/incidents/{incident_id}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    done = await first.post(
        f"/incidents/{incident_id}/action",
        data={"action": "acknowledge", "csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT actor, source FROM incident_events WHERE kind = 'acknowledged'")
    assert (row["actor"], row["source"]) == ("ada", "web")
    # the API keeps answering bearer tokens, and a console cookie is not an API credential
    assert (await first.get(f"/api/v1/incidents/{incident_id}")).status_code == 401


async def test_cookies_are_secure_behind_https(db: Database, database_url: str, clock: FrozenClock) -> None:
    async with db.connection() as conn:
        await accounts.add_user(conn, "ada", PASSWORD, Role.RESPONDER, clock())
    async with await _client(database_url, clock, "https://incidents.example") as client:
        await wait_until_ready(client.app)
        form = await client.get("/login")
        assert "secure" in form.headers["set-cookie"].lower()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        client.cookies.set("incidentd_login_csrf", token.group(1))
        response = await client.post(
            "/login",
            data={"name": "ada", "password": PASSWORD, "csrf_token": token.group(1)},
            follow_redirects=False,
        )
        session_cookie = next(
            v for k, v in response.headers.multi_items() if k == "set-cookie" and "incidentd_session=" in v
        )
        assert "Secure" in session_cookie
        assert "HttpOnly" in session_cookie
        assert "SameSite=lax" in session_cookie or "SameSite=Lax" in session_cookie

"""A real incidentd (uvicorn on loopback, the test PostgreSQL) and a real Chromium driven by Playwright.

The server runs in a thread with its own event loop, exactly as `incidentd serve` runs it; the
PagerDuty and Slack fakes run on the test loop. Screenshots go to a directory outside the repo
(INCIDENTD_SCREENSHOTS, default /tmp/incidentd-screenshots) for people to look at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import ROOT, require_tool
from notification_harness import FAST, ROUTING_KEY, SLACK_TOKEN

from browser.console_harness import API_TOKEN, PASSWORD, STREAM_SECONDS, Console, listening_socket, serving
from service.adapters.postgres.database import Database
from service.app import build_app
from service.escalation.component import build as escalation
from service.notifications.component import NotificationOptions, make_build
from service.rca.component import build as action_items
from service.settings import READ, WRITE, ApiToken, Settings, digest_token
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack
from service.web import accounts
from service.web.accounts import Role
from service.web.component import make_build as web_build
from service.web.options import WebOptions


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return require_tool("chromium", "chromium")


@pytest.fixture(scope="module")
async def console(database_url: str, chromium_path: str) -> AsyncIterator[Console]:
    pd, slack = FakePagerDuty(), FakeSlack()
    await pd.start()
    await slack.start()
    sock, port = listening_socket()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(
        rules_dir=ROOT / "rules",
        templates_dir=ROOT / "incident_templates",
        public_url=url,
        port=port,
        api_tokens=(
            ApiToken(name="ci-bot", digest=digest_token(API_TOKEN), scopes=frozenset({READ, WRITE})),
        ),
        pagerduty_events_url=pd.url,
        slack_api_url=f"{slack.url}/api/",
        pagerduty_routing_key=ROUTING_KEY,
        slack_bot_token=SLACK_TOKEN,
    )
    components = [
        escalation,
        make_build(
            NotificationOptions(
                env={}, poll_interval=0.2, delivery=FAST, slack_min_interval=0, pacing={"pagerduty": None}
            )
        ),
        action_items,
        web_build(WebOptions(stream_seconds=STREAM_SECONDS, heartbeat_seconds=1.0)),
    ]
    app = build_app(settings, database_url, components=components)
    async with serving(app, sock, url):
        yield Console(url, app, pd, slack)
    await pd.stop()
    await slack.stop()


@pytest.fixture
async def fresh(console: Console, db: Database) -> Console:
    """An emptied database with three accounts: ada (responder), vic (viewer), root (admin)."""
    async with db.connection() as conn:
        now = datetime.now(UTC)
        await accounts.add_user(conn, "ada", PASSWORD, Role.RESPONDER, now)
        await accounts.add_user(conn, "vic", PASSWORD, Role.VIEWER, now)
        await accounts.add_user(conn, "root", PASSWORD, Role.ADMIN, now)
    console.pd.reset()
    console.slack.reset()
    return console


@pytest.fixture(scope="module")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        yield launched
        await launched.close()

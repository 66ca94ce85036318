"""`/incident followup …` over HTTP, signed as Slack signs it, against a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from slack_harness import Client, command, slack_app
from test_slack_commands import declare

from service.adapters.postgres.database import Database
from service.app import wait_until_ready
from service.incidents.service import IncidentService


@pytest.fixture
async def client(db: Database, database_url: str) -> AsyncIterator[Client]:
    app = slack_app(database_url)
    async with AsyncTestClient(app=app) as test_client:
        await wait_until_ready(app)
        yield test_client


async def test_add_list_and_close_follow_ups(client: Client, db: Database) -> None:
    incident_id = await declare(client)
    _, added = await command(
        client, f"followup add INC-{incident_id} <@U0BOB|bob> 2026-12-15 Add an index <!channel> *now*"
    )
    assert added["response_type"] == "in_channel"
    assert "`AI-1`" in added["text"]
    assert "@bob, due 2026-12-15" in added["text"]
    assert "<!channel>" not in added["text"]
    assert "*now*" not in added["text"], "formatting from the title is made inert"
    _, second = await command(client, f"followup add {incident_id} Write the runbook")
    assert "_no owner_" in second["text"]

    _, listed = await command(client, f"followup list INC-{incident_id}")
    assert listed["response_type"] == "ephemeral"
    assert listed["text"].count("• `AI-") == 2

    _, done = await command(client, "followup done AI-1")
    assert "closed as done `AI-1`" in done["text"]
    _, again = await command(client, "followup done AI-1")
    assert again["text"] == "`AI-1` of *INC-1* is already done."
    _, open_ones = await command(client, "followup list")
    assert "AI-1" not in open_ones["text"]
    assert "AI-2" in open_ones["text"]

    _, timeline = await IncidentService(db).get(incident_id)
    kinds = [e.kind for e in timeline]
    assert kinds.count("action_item_added") == 2
    assert "action_item_updated" in kinds
    added_event = next(e for e in timeline if e.kind == "action_item_added")
    assert added_event.data["owner"] == "@bob"
    assert added_event.data["title"] == "Add an index @channel *now*"


async def test_follow_up_mistakes_say_what_to_type(client: Client) -> None:
    incident_id = await declare(client)
    for text, problem in [
        ("followup add", "needs an incident id"),
        (f"followup add {incident_id} @bob 2026-13-45 x", "not a date"),
        (f"followup add {incident_id} @bob", "title must not be empty"),
        ("followup done", "needs one action item id"),
        ("followup done AI-x", "not an action item id"),
        ("followup frobnicate", "use add, list, done, drop or reopen"),
    ]:
        _, body = await command(client, text)
        assert body["response_type"] == "ephemeral"
        assert problem in body["text"], (text, body["text"])
        assert "Usage: `/incident followup add ID" in body["text"]
    _, missing = await command(client, "followup done AI-999")
    assert "AI-999 not found" in missing["text"]
    _, no_incident = await command(client, "followup add INC-999 fix it")
    assert "INC-999 does not exist" in no_incident["text"]

"""Task lines typed into an RCA's Action Items section become action items when the RCA is saved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from test_rca_api import WRITER, Client, Stack, build_stack, lifecycle

from service.adapters.postgres.database import Database
from service.domain.action_items import ItemStatus
from service.domain.incidents import Actor
from service.domain.rca_markdown import section_contents
from service.rca import action_items_store
from service.rca.action_items import ActionItems

HEADING = "### Action Items\n"


@pytest.fixture
async def typed_stack(db: Database, database_url: str) -> AsyncIterator[tuple[Stack, Client]]:
    from litestar.testing import AsyncTestClient

    built = build_stack(db, database_url)
    async with AsyncTestClient(app=built.app) as client:
        yield built, client


def _typed(markdown: str, lines: str) -> str:
    """The document with `lines` typed at the end of the Action Items section (after the table)."""
    marker = "<!-- incidentd:end action_items -->\n"
    assert HEADING in markdown
    assert marker in markdown
    return markdown.replace(marker, marker + "\n" + lines, 1)


async def test_api_save_creates_items_once_and_regenerate_ties_lines_to_them(
    typed_stack: tuple[Stack, Client], db: Database
) -> None:
    built, client = typed_stack
    incident_id = await lifecycle(built)
    base = f"/api/v1/incidents/{incident_id}/rca"
    v1 = (await client.post(base, headers=WRITER)).json()["markdown"]
    prose = "Root cause prose — kept  exactly.\t\n"
    edited = v1.replace("_Describe the underlying cause", prose + "_Describe the underlying cause", 1)
    edited = _typed(
        edited,
        "- [ ] Add an index on orders.created_at @bob due 2026-12-15\n"
        "- [ ] Alert on pool saturation\n"
        "- [x] Rolled back already\n",
    )
    saved = await client.put(base, json={"markdown": edited, "base_version": 1}, headers=WRITER)
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["markdown"] == edited  # the save stores the text as sent
    assert (body["version"], body["reason"]) == (2, "edited")
    async with db.connection() as conn:
        items = await action_items_store.for_incident(conn, incident_id)
    assert [(i.title, i.owner, i.created_by) for i in items] == [
        ("Add an index on orders.created_at", "@bob", "alice"),
        ("Alert on pool saturation", "", "alice"),
    ]
    assert items[0].due_on == date(2026, 12, 15)
    assert body["action_items_created"] == [i.ref for i in items]
    assert body["action_item_problems"] == []

    # Saving the same text again creates nothing.
    again = await client.put(
        base, json={"markdown": edited + "\nmore prose\n", "base_version": 2}, headers=WRITER
    )
    assert again.status_code == 200, again.text
    assert again.json()["action_items_created"] == []

    # Closing one item, then regenerating: the table lists both, the lines carry their ids and boxes.
    follow_ups = ActionItems(db, built.incidents, built.clock)
    await follow_ups.update(items[1].id, Actor("alice", "api"), status=ItemStatus.DONE)
    regenerated = (await client.post(f"{base}/regenerate", headers=WRITER)).json()
    text = regenerated["markdown"]
    table = section_contents(text)["action_items"]
    assert f"| {items[0].ref} | Add an index on orders.created_at | @bob | 2026-12-15 | open |" in table
    assert f"| {items[1].ref} | Alert on pool saturation |" in table
    expected_lines = (
        f"- [ ] {items[0].ref} Add an index on orders.created_at @bob due 2026-12-15\n"
        f"- [x] {items[1].ref} Alert on pool saturation\n"
        "- [x] Rolled back already\n"
    )
    assert expected_lines in text
    assert prose in text
    assert text.endswith("\nmore prose\n")

    # The regenerated text, saved again (and with a line edited), still makes no duplicates.
    resaved = await client.put(
        base,
        json={
            "markdown": text.replace("due 2026-12-15", "due 2026-12-16"),
            "base_version": regenerated["version"],
        },
        headers=WRITER,
    )
    assert resaved.status_code == 200, resaved.text
    assert resaved.json()["action_items_created"] == []
    async with db.connection() as conn:
        assert len(await action_items_store.for_incident(conn, incident_id)) == 2


async def test_bad_lines_are_reported_and_the_save_is_kept(
    typed_stack: tuple[Stack, Client], db: Database
) -> None:
    built, client = typed_stack
    incident_id = await lifecycle(built)
    base = f"/api/v1/incidents/{incident_id}/rca"
    v1 = (await client.post(base, headers=WRITER)).json()["markdown"]
    edited = _typed(
        v1 + "\nclosing words\n",
        "- [ ] Shard the table @bob due 2026-13-45\n"
        "- [ ] Ask around @bob @carol\n"
        "- [ ] Fix retries 2026-12-20\n",
    )
    saved = await client.put(base, json={"markdown": edited, "base_version": 1}, headers=WRITER)
    assert saved.status_code == 200, saved.text
    body = saved.json()
    line = edited[: edited.index("- [ ] Shard")].count("\n") + 1
    problems = body["action_item_problems"]
    assert len(problems) == 2
    assert problems[0].startswith(f"line {line}: due: '2026-13-45' is not a day; write YYYY-MM-DD")
    assert problems[1].startswith(f"line {line + 1}: owner: @bob, @carol are several owners")
    assert "- [ ] Shard the table @bob due 2026-13-45\n" in body["markdown"]
    assert "- [ ] Ask around @bob @carol\n" in body["markdown"]
    assert body["markdown"].endswith("\nclosing words\n")
    async with db.connection() as conn:
        items = await action_items_store.for_incident(conn, incident_id)
    assert [(i.title, i.due_on) for i in items] == [("Fix retries", date(2026, 12, 20))]


async def test_the_templates_prompts_and_text_outside_the_section_make_no_items(
    typed_stack: tuple[Stack, Client], db: Database
) -> None:
    built, client = typed_stack
    incident_id = await lifecycle(built)
    base = f"/api/v1/incidents/{incident_id}/rca"
    v1 = (await client.post(base, headers=WRITER)).json()["markdown"]
    edited = v1.replace(
        "### Lessons learned\n", "### Lessons learned\n\n- [ ] Not an item: another section\n"
    )
    saved = await client.put(base, json={"markdown": edited, "base_version": 1}, headers=WRITER)
    assert saved.status_code == 200, saved.text
    assert saved.json()["action_items_created"] == []
    assert saved.json()["markdown"] == edited
    async with db.connection() as conn:
        assert await action_items_store.for_incident(conn, incident_id) == []

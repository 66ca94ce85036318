"""Task lines typed into an RCA's Action Items section become action items when the RCA is saved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from test_rca_api import WRITER, Client, Stack, build_stack, lifecycle

from service.adapters.postgres.database import Database
from service.domain.rca_markdown import section_contents
from service.rca import action_items_store

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


async def test_api_save_creates_items_once_and_keeps_other_text(
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
    async with db.connection() as conn:
        items = await action_items_store.for_incident(conn, incident_id)
    assert [(i.title, i.owner, i.created_by) for i in items] == [
        ("Add an index on orders.created_at", "@bob", "alice"),
        ("Alert on pool saturation", "", "alice"),
    ]
    assert items[0].due_on == date(2026, 12, 15)
    assert body["action_items_created"] == [i.ref for i in items]
    assert body["action_item_problems"] == []
    text = body["markdown"]
    # The lines became rows: gone from the prose, present in the refreshed table with their ids.
    assert "\n- [ ] Add an index" not in text
    assert "- [ ] Alert on pool saturation" not in text
    assert "- [x] Rolled back already\n" in text
    table = section_contents(text)["action_items"]
    assert f"| {items[0].ref} | Add an index on orders.created_at | @bob | 2026-12-15 | open |" in table
    assert f"| {items[1].ref} | Alert on pool saturation |" in table
    assert prose in text
    assert text.replace(section_contents(text)["action_items"], "") == edited.replace(
        "- [ ] Add an index on orders.created_at @bob due 2026-12-15\n- [ ] Alert on pool saturation\n", ""
    ).replace(section_contents(edited)["action_items"], "")

    # Saving the returned text again creates nothing; nor does resending the original lines.
    again = await client.put(
        base, json={"markdown": text + "\nmore prose\n", "base_version": body["version"]}, headers=WRITER
    )
    assert again.status_code == 200, again.text
    assert again.json()["action_items_created"] == []
    resent = await client.put(
        base, json={"markdown": edited, "base_version": again.json()["version"]}, headers=WRITER
    )
    assert resent.status_code == 200, resent.text
    assert resent.json()["action_items_created"] == []
    async with db.connection() as conn:
        assert len(await action_items_store.for_incident(conn, incident_id)) == 2
    assert "- [ ] Alert on pool saturation" not in resent.json()["markdown"]


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

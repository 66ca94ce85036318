"""The RCA editor in a real Chromium: preview, save, regenerate keeping human text, conflicts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from browser.console_harness import SHOTS, Console, login, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]
HUMAN = "\n## What we learned\n\nThe pool was *too small* for Monday traffic.\n"


async def incident_with_rca(console: Console, browser: Any) -> tuple[int, Any]:
    async with console.api() as api:
        response = await api.post(
            "/api/v1/incidents/",
            json={"title": "checkout 5xx", "severity": "P1", "labels": {"service": "checkout"}},
        )
        incident_id: int = response.json()["incident"]["id"]
        await api.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={})
        await api.post(f"/api/v1/incidents/{incident_id}/resolve", json={"note": "scaled the pool"})
    page = await login(browser, console, "ada")
    await page.goto(f"/incidents/{incident_id}/rca")
    await page.get_by_role("button", name="Generate the RCA").click()
    await expect(page.locator("#rca-version")).to_have_text("1")
    return incident_id, page


async def test_edit_with_live_preview_save_and_regenerate_keeps_the_human_text(
    fresh: Console, browser: Any
) -> None:
    incident_id, page = await incident_with_rca(fresh, browser)
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    assert await page.locator("#rca-preview section.machine").count() >= 1
    await expect(page.locator("#rca-preview .machine-tag").first).to_contain_text(
        "regenerated from the timeline"
    )

    editor = page.get_by_label("Markdown")
    original = await editor.input_value()
    await editor.fill(original + HUMAN + "\n<img src=x onerror=alert(1)>\n")
    await expect(page.locator("#rca-preview em").last).to_have_text(
        "too small", timeout=15_000
    )  # rendered while typing
    assert await page.locator("#rca-preview img[onerror]").count() == 0
    await shot(page, "rca-editor")
    await page.get_by_role("button", name="Save as version 2").click()
    await expect(page.locator("#rca-version")).to_have_text("2")
    await expect(page.get_by_role("status").first).to_have_text("Saved as version 2")

    async with fresh.api() as api:
        await api.post(f"/api/v1/incidents/{incident_id}/notes", json={"text": "follow-up: raise pool max"})
    await page.get_by_role("button", name="Regenerate machine sections").click()
    await expect(page.locator("#rca-version")).to_have_text("3")
    async with fresh.api() as api:
        body = (await api.get(f"/api/v1/incidents/{incident_id}/rca")).json()
    assert HUMAN in body["markdown"]  # byte for byte
    assert "follow-up: raise pool max" in body["markdown"]
    assert body["reason"] == "regenerated"
    assert dialogs == []

    await page.get_by_role("link", name="History and diffs").click()
    await expect(page.locator("pre.diff .dadd").first).to_be_visible()
    await shot(page, "rca-history")
    await page.context.close()


async def test_a_stale_save_shows_both_versions_and_overwrites_nothing(fresh: Console, browser: Any) -> None:
    incident_id, first = await incident_with_rca(fresh, browser)
    second = await login(browser, fresh, "root")
    await second.goto(f"/incidents/{incident_id}/rca")

    editor = first.get_by_label("Markdown")
    await editor.fill((await editor.input_value()) + "\nFirst author's paragraph.\n")
    await first.get_by_role("button", name="Save as version 2").click()
    await expect(first.locator("#rca-version")).to_have_text("2")

    other = second.get_by_label("Markdown")
    mine = (await other.input_value()) + "\nSecond author's paragraph.\n"
    await other.fill(mine)
    await second.get_by_role("button", name="Save as version 2").click()
    conflict = second.get_by_role("alert")
    await expect(conflict).to_contain_text("someone saved version 2 while you edited version 1")
    await expect(second.locator("pre.diff .ddel")).to_contain_text("First author's paragraph.")
    await expect(second.locator("pre.diff .dadd")).to_contain_text("Second author's paragraph.")
    assert (await other.input_value()).replace("\r\n", "\n") == mine  # their draft survives
    await shot(second, "rca-conflict")
    async with fresh.api() as api:
        stored = (await api.get(f"/api/v1/incidents/{incident_id}/rca")).json()
    assert stored["version"] == 2
    assert "First author's paragraph." in stored["markdown"]

    # merge: keep both paragraphs and save on top of version 2
    await other.fill(stored["markdown"] + "\nSecond author's paragraph.\n")
    await second.get_by_role("button", name="Save on top of version 2").click()
    await expect(second.locator("#rca-version")).to_have_text("3")
    async with fresh.api() as api:
        merged = (await api.get(f"/api/v1/incidents/{incident_id}/rca")).json()["markdown"]
    assert "First author's paragraph." in merged
    assert "Second author's paragraph." in merged
    await first.context.close()
    await second.context.close()


async def test_a_viewer_cannot_edit(fresh: Console, browser: Any) -> None:
    incident_id, page = await incident_with_rca(fresh, browser)
    viewer = await login(browser, fresh, "vic")
    await viewer.goto(f"/incidents/{incident_id}/rca")
    assert await viewer.get_by_label("Markdown").get_attribute("readonly") is not None
    assert await viewer.get_by_role("button", name="Regenerate machine sections").count() == 0
    token = await viewer.locator('input[name="csrf_token"]').first.get_attribute("value")
    refused = await viewer.request.post(
        f"/incidents/{incident_id}/rca",
        form={"markdown": "# wiped", "base_version": "1", "csrf_token": token or ""},
        max_redirects=0,
    )
    assert refused.status == 403
    await page.context.close()
    await viewer.context.close()


async def test_task_lines_saved_in_the_editor_become_action_items(fresh: Console, browser: Any) -> None:
    incident_id, page = await incident_with_rca(fresh, browser)
    editor = page.get_by_label("Markdown")
    original = await editor.input_value()
    marker = "<!-- incidentd:end action_items -->\n"
    typed = "\n- [ ] Raise the pool limit @bob due 2026-12-15\n- [ ] Page earlier due 2026-02-30\n"
    await editor.fill(original.replace(marker, marker + typed, 1))
    await page.get_by_role("button", name="Save as version 2").click()
    notice = page.get_by_role("status").first
    await expect(notice).to_contain_text("Action items created from your task lines: AI-")
    await expect(notice).to_contain_text("due: '2026-02-30' is not a day")
    async with fresh.api() as api:
        items = (await api.get(f"/api/v1/incidents/{incident_id}/action-items")).json()["items"]
        saved = (await api.get(f"/api/v1/incidents/{incident_id}/rca")).json()
    assert [(i["title"], i["owner"], i["due_on"]) for i in items] == [
        ("Raise the pool limit", "@bob", "2026-12-15")
    ]
    assert typed in saved["markdown"]  # the save keeps the text as typed

    await page.get_by_role("button", name="Regenerate machine sections").click()
    await expect(page.locator("#rca-version")).to_have_text("3")
    await expect(page.locator("#rca-preview table").last).to_contain_text("Raise the pool limit")
    ref = items[0]["ref"]
    await expect(editor).to_have_value(re.compile(re.escape(f"- [ ] {ref} Raise the pool limit @bob")))
    await expect(page.get_by_role("status").first).to_contain_text("except the action item ids")
    await shot(page, "rca-typed-items")
    await page.locator("#rca-preview table").last.screenshot(path=str(SHOTS / "rca-typed-items-table.png"))
    await page.get_by_role("button", name="Save as version 4").click()
    await expect(page.get_by_role("status").first).not_to_contain_text("Action items created")
    async with fresh.api() as api:
        after = (await api.get(f"/api/v1/incidents/{incident_id}/action-items")).json()["items"]
    assert len(after) == 1
    await page.context.close()

"""The incident page lists the incident's action items, and keeps the list current live."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from browser.console_harness import Console, login, shot


async def test_the_incident_page_lists_action_items_and_updates_live(fresh: Console, browser: Any) -> None:
    async with fresh.api() as api:
        declared = await api.post("/api/v1/incidents", json={"title": "Checkout errors", "severity": "P2"})
        incident = declared.json()["incident"]
        base = f"/api/v1/incidents/{incident['id']}/action-items"
        await api.post(
            base,
            json={"title": "Add an index <script>x</script>", "owner": "@bob", "due_on": "2026-12-15",
                  "link": "https://tracker.example/OPS-12"},
        )  # fmt: skip
    page = await login(browser, fresh, "ada")
    await page.goto(f"/incidents/{incident['id']}")
    section = page.locator("#live-action-items")
    await expect(section.get_by_role("link", name="Add an index <script>x</script>")).to_have_attribute(
        "href", "https://tracker.example/OPS-12"
    )
    await expect(section).to_contain_text("@bob")
    async with fresh.api() as api:
        await api.post(base, json={"title": "Write the runbook", "owner": "@carol", "due_on": "2026-12-20"})
    await expect(section).to_contain_text("Write the runbook", timeout=10_000)
    await shot(page, "incident-action-items")

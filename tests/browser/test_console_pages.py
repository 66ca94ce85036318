"""The silences page in a real Chromium, and an axe-core audit of every main page (the rules page's
content is covered over HTTP in tests/integration/test_web_rules_page.py)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from playwright.async_api import expect

from browser.console_harness import Console, login, shot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
# axe-core as the axe-playwright-python package ships it: no CDN, no Node.
AXE = (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")
WCAG_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}
}


async def incident_with_history(console: Console) -> int:
    async with console.api() as api:
        created = await api.post(
            "/api/v1/incidents/",
            json={"title": "checkout 5xx above 2%", "severity": "P1", "labels": {"service": "checkout"}},
        )
        incident_id: int = created.json()["incident"]["id"]
        await api.post(f"/api/v1/incidents/{incident_id}/notes", json={"text": "rolled back **v42**"})
        await api.post(f"/api/v1/incidents/{incident_id}/acknowledge", json={})
    return incident_id


async def test_a_responder_silences_from_the_console_and_expires_it_a_viewer_only_reads(
    fresh: Console, browser: Any
) -> None:
    page = await login(browser, fresh, "ada")
    await page.goto("/silences")
    await expect(page.get_by_role("heading", name="Silences and maintenance")).to_be_visible()
    await expect(page.get_by_role("cell", name="weekly-maintenance").first).to_be_visible()
    await page.get_by_label("Matchers").fill('service=payments alertname=~"Disk.*"')
    await page.get_by_label("For").fill("90m")
    await page.get_by_label("Why").fill("replacing disks on db-3 <b>now</b>")
    await page.get_by_role("button", name="Silence", exact=True).click()
    await expect(page.get_by_role("status").first).to_contain_text('Silenced {service="payments"')
    current = page.locator("table[aria-labelledby=current]")
    await expect(current).to_contain_text("replacing disks on db-3 <b>now</b>")  # shown literally
    await expect(current).to_contain_text("active")
    await shot(page, "silences")

    await page.get_by_text("Start a one-off maintenance window now").click()
    await page.get_by_label("What").fill("payments db failover")
    await page.get_by_label("Mute which alerts").fill("service=payments")
    await page.get_by_role("button", name="Start maintenance").click()
    await expect(page.get_by_role("status").first).to_contain_text(
        "Maintenance 'payments db failover' started"
    )
    windows = page.locator("table[aria-labelledby=windows]")
    await expect(windows.get_by_role("row", name="payments db failover")).to_contain_text("open now")
    await expect(windows.get_by_role("row", name="payments db failover")).to_contain_text("one-off")
    await shot(page, "silences-window")

    await page.get_by_label("Matchers").fill("service=~[")
    await page.get_by_label("Why").fill("typo")
    await page.get_by_role("button", name="Silence", exact=True).click()
    await expect(page.get_by_role("status").first).to_contain_text("Not done: matchers:")

    viewer = await login(browser, fresh, "vic")
    await viewer.goto("/silences")
    await expect(viewer.get_by_role("table").first).to_contain_text("replacing disks")
    assert await viewer.get_by_label("Matchers").count() == 0
    assert await viewer.get_by_role("button", name="Expire").count() == 0
    await viewer.context.close()

    await page.get_by_role("button", name="Expire silence").click()
    await expect(page.get_by_role("status").first).to_contain_text("ended")
    await expect(page.locator("table[aria-labelledby=expired]")).to_contain_text("ended early by ada")

    # Keyboard only: the skip link comes first, and the form is filled and sent in tab order.
    await page.goto("/silences")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.get_by_label("Matchers").focus()
    await page.keyboard.type("service=search")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Control+A")
    await page.keyboard.type("15m")
    await page.keyboard.press("Tab")
    await page.keyboard.type("reindex")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Silence"
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status").first).to_contain_text('Silenced {service="search"} for 15m')
    await page.context.close()


async def test_main_pages_pass_an_axe_core_wcag_aa_audit(fresh: Console, browser: Any) -> None:
    incident_id = await incident_with_history(fresh)
    problems: list[str] = []
    for scheme in ("light", "dark"):
        context = await browser.new_context(base_url=fresh.url, bypass_csp=True, color_scheme=scheme)
        page = await context.new_page()
        await page.goto("/login")
        problems += await audit(page, f"{scheme} /login")
        await page.get_by_label("User name").fill("ada")
        await page.get_by_label("Password").fill("correct horse battery")
        await page.get_by_role("button", name="Log in").click()
        await page.wait_for_url(f"{fresh.url}/")
        for path in ["/", f"/incidents/{incident_id}", f"/incidents/{incident_id}/rca", "/alerts",
                     "/rules", "/silences", "/oncall?service=checkout", "/account/password"]:  # fmt: skip
            response = await page.goto(path)
            assert response.status == 200, path
            assert page.url == fresh.url + path
            problems += await audit(page, f"{scheme} {path}")
        if scheme == "dark":
            await shot(page, "password-dark")
        await context.close()
    assert not problems, "\n".join(problems)

    # The audit can fail: the same check finds an unlabelled control and an image without text.
    context = await browser.new_context(base_url=fresh.url, bypass_csp=True)
    page = await context.new_page()
    await page.set_content('<html lang="en"><title>x</title><main><img src="x.png"><input></main></html>')
    found = " ".join(await audit(page, "broken"))
    assert "image-alt" in found
    assert "label" in found
    await context.close()


async def audit(page: Any, where: str) -> list[str]:
    await page.evaluate(AXE)
    result = await page.evaluate(f"axe.run(document, {json.dumps(WCAG_AA)})")
    return [
        f"{where}: {v['id']} ({v['impact']}) {v['help']}: "
        + "; ".join(n["target"][0] + " " + n.get("failureSummary", "")[:160] for n in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]

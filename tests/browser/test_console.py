"""The web console in a real Chromium against a real incidentd and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from playwright.async_api import expect

from browser.console_harness import PASSWORD, Console, login, shot
from service.adapters.postgres.database import Database
from service.web.change_feed import APPLICATION_NAME

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]
LIVE = 2000  # ms: an open page shows a change within 2 s


async def declare(console: Console, title: str, severity: str = "P2", **labels: str) -> dict[str, Any]:
    async with console.api() as api:
        response = await api.post(
            "/api/v1/incidents/", json={"title": title, "severity": severity, "labels": labels}
        )
        assert response.status_code == 201, response.text
        incident: dict[str, Any] = response.json()["incident"]
        return incident


async def test_anonymous_is_sent_to_login_and_logout_ends_the_session(fresh: Console, browser: Any) -> None:
    context = await browser.new_context(base_url=fresh.url)
    page = await context.new_page()
    await page.goto("/incidents/1")
    assert page.url == f"{fresh.url}/login?next=/incidents/1"
    await page.get_by_label("User name").fill("ada")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    await shot(page, "login")
    cookies = {c["name"]: c for c in await context.cookies()}
    assert "incidentd_session" not in cookies

    page = await login(browser, fresh, "ada")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["incidentd_session"]["httpOnly"] is True
    assert cookies["incidentd_session"]["sameSite"] == "Lax"
    await expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(f"{fresh.url}/login")
    await page.goto("/")
    assert page.url.startswith(f"{fresh.url}/login")
    await context.close()
    await page.context.close()


async def test_the_list_puts_open_incidents_first_filters_in_the_url_and_pages(
    fresh: Console, browser: Any
) -> None:
    created = []
    for n in range(56):
        created.append(
            await declare(
                fresh,
                f"disk filling on db-{n}",
                ("P1", "P2", "P3")[n % 3],
                service=("checkout", "search")[n % 2],
            )
        )
    async with fresh.api() as api:
        for incident in created[50:]:  # the newest six are resolved: they must sort after every open one
            response = await api.post(f"/api/v1/incidents/{incident['id']}/resolve", json={"note": "fixed"})
            assert response.status_code == 200
    page = await login(browser, fresh, "vic")
    await expect(page.locator("#result-count")).to_have_text("56 incidents")
    ids = await page.locator("table.incidents tbody tr td:first-child").all_inner_texts()
    assert len(ids) == 50
    assert ids[0] == created[49]["human_id"]  # newest open first, not the newer resolved ones
    await shot(page, "list")

    await page.get_by_role("link", name="Next page »").click()
    rest = await page.locator("table.incidents tbody tr td:first-child").all_inner_texts()
    assert rest == [created[i]["human_id"] for i in (55, 54, 53, 52, 51, 50)]
    assert await page.locator("tr.resolved").count() == 6

    await page.goto("/")
    await page.get_by_label("Severity").select_option("P1")
    await page.get_by_label("Service").fill("checkout")
    await page.get_by_role("button", name="Filter").click()
    assert "severity=P1" in page.url
    assert "service=checkout" in page.url
    expected = [c for c in created if c["severity"] == "P1" and c["labels"]["service"] == "checkout"]
    await expect(page.locator("#result-count")).to_have_text(f"{len(expected)} incidents")
    shared = await browser.new_context(base_url=fresh.url)  # a shared link shows the same view after login
    other = await shared.new_page()
    await other.goto(page.url.removeprefix(fresh.url))
    await other.get_by_label("User name").fill("ada")
    await other.get_by_label("Password").fill(PASSWORD)
    await other.get_by_role("button", name="Log in").click()
    await expect(other.locator("#result-count")).to_have_text(f"{len(expected)} incidents")

    await page.goto("/?q=db-17")
    await expect(page.locator("table.incidents tbody tr")).to_have_count(1)
    await page.goto("/?status=bogus")
    await expect(page.get_by_role("alert")).to_contain_text("status: unknown value 'bogus'")
    await shared.close()
    await page.context.close()


async def test_acknowledge_from_the_page_and_a_second_page_sees_it_live(fresh: Console, browser: Any) -> None:
    incident = await declare(fresh, "checkout error rate 4.2%", "P1", service="checkout")
    path = f"/incidents/{incident['id']}"
    ada = await login(browser, fresh, "ada")
    vic = await login(browser, fresh, "vic")
    await ada.goto(path)
    await vic.goto(path)
    for page in (ada, vic):
        await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    await vic.evaluate("window.notReloaded = true")
    assert await vic.get_by_role("button", name="Acknowledge").count() == 0  # viewers get no actions
    await shot(ada, "incident-before-ack")

    started = time.monotonic()
    await ada.get_by_role("button", name="Acknowledge").click()
    await expect(ada.locator("#live-header .status")).to_have_text("acknowledged")
    await expect(ada.get_by_role("status").first).to_contain_text("acknowledged")
    await expect(vic.locator("#live-header .status")).to_have_text("acknowledged", timeout=LIVE)
    assert time.monotonic() - started < 4
    await expect(vic.locator(".timeline .kind-acknowledged")).to_contain_text("ada via web")
    assert await vic.evaluate("window.notReloaded") is True

    # a change made through the API (another door, another connection) reaches both pages too
    async with fresh.api() as api:
        response = await api.post(
            f"/api/v1/incidents/{incident['id']}/notes", json={"text": "rolled back **v42**"}
        )
        assert response.status_code == 201
    for page in (ada, vic):
        await expect(page.locator(".timeline .event").first.locator("strong")).to_have_text(
            "v42", timeout=LIVE
        )
    await shot(vic, "incident-viewer-live")

    # the viewer's own token cannot make the server act either
    token = await vic.locator('input[name="csrf_token"]').first.get_attribute("value")
    refused = await vic.request.post(
        f"{path}/action", form={"action": "mitigate", "csrf_token": token or ""}, max_redirects=0
    )
    assert refused.status == 403
    forged = await ada.request.post(f"{path}/action", form={"action": "mitigate"}, max_redirects=0)
    assert forged.status == 403  # no CSRF token: refused even for a responder
    async with fresh.api() as api:
        assert (await api.get(f"/api/v1/incidents/{incident['id']}")).json()["incident"][
            "status"
        ] == "acknowledged"

    await ada.get_by_label("Resolve with a note").fill("restarted the pool")
    await ada.get_by_role("button", name="Resolve", exact=True).click()
    await expect(ada.locator("#live-header .status")).to_have_text("resolved")
    await expect(vic.locator("#live-header .status")).to_have_text("resolved", timeout=LIVE)
    await shot(ada, "incident-resolved")
    await ada.context.close()
    await vic.context.close()


async def test_the_live_timeline_survives_stream_ends_and_a_lost_database_listener(
    fresh: Console, browser: Any, db: Database
) -> None:
    incident = await declare(fresh, "search latency p99 2.1s", "P2", service="search")
    page = await login(browser, fresh, "vic")
    await page.goto(f"/incidents/{incident['id']}")
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "live")
    await page.evaluate("window.notReloaded = true")

    async def note_and_see(text: str) -> None:
        async with fresh.api() as api:
            response = await api.post(f"/api/v1/incidents/{incident['id']}/notes", json={"text": text})
            assert response.status_code == 201
        await expect(page.locator(".timeline .kind-note").first).to_contain_text(text, timeout=LIVE)

    await asyncio.sleep(4)  # past the 3 s stream lifetime: the browser has reconnected by itself
    await note_and_see("after the stream was recycled")
    async with db.connection() as conn:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            APPLICATION_NAME,
        )
    assert killed >= 1
    await note_and_see("after the listener was killed")
    assert await page.evaluate("window.notReloaded") is True
    await page.context.close()


async def test_an_injected_title_and_note_stay_inert(fresh: Console, browser: Any) -> None:
    title = "<img src=x onerror=alert(1)> {{ 7*7 }}"
    incident = await declare(fresh, title, "P3", service="<script>alert(2)</script>")
    async with fresh.api() as api:
        await api.post(
            f"/api/v1/incidents/{incident['id']}/notes",
            json={"text": "<img src=x onerror=alert(3)> [x](javascript:alert(4)) <script>alert(5)</script>"},
        )
    page = await login(browser, fresh, "ada")
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    await page.goto("/")
    await expect(page.locator("td.title")).to_have_text(title)
    await page.goto(f"/incidents/{incident['id']}")
    await expect(page.locator("#incident-title")).to_have_text(title)
    note = page.locator(".timeline .kind-note .note")
    assert await note.locator("img[onerror]").count() == 0
    assert await note.locator("script").count() == 0
    assert await note.locator('a[href^="javascript"]').count() == 0
    await asyncio.sleep(0.5)
    assert dialogs == []
    await shot(page, "incident-injected")
    await page.context.close()


async def test_links_sent_to_pagerduty_and_slack_open_the_incident_page(fresh: Console, browser: Any) -> None:
    incident = await declare(fresh, "payments down", "P0", service="payments")
    page_url = f"{fresh.url}/incidents/{incident['id']}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the fakes record from another thread: poll them
        if fresh.pd.events and fresh.slack.calls("chat.postMessage"):
            break
        await asyncio.sleep(0.1)
    pd_links = [link["href"] for e in fresh.pd.events for link in e.get("links", [])]
    assert page_url in pd_links
    assert page_url in json.dumps(fresh.slack.calls("chat.postMessage"))

    context = await browser.new_context(base_url=fresh.url)
    page = await context.new_page()
    await page.goto(page_url)
    await page.get_by_label("User name").fill("ada")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(page_url)
    await expect(page.locator("#incident-title")).to_have_text("payments down")
    await context.close()


async def test_the_oncall_ladder_and_the_alerts_page(fresh: Console, browser: Any) -> None:
    page = await login(browser, fresh, "vic")
    await page.get_by_role("link", name="On-call").click()
    await page.get_by_role("textbox", name="Service").fill("checkout")
    await page.get_by_role("button", name="Show").click()
    assert "service=checkout" in page.url
    await expect(page.get_by_role("heading", name="Level 1: On-call engineer")).to_be_visible()
    await shot(page, "oncall")
    await page.get_by_role("link", name="Alerts").click()
    await expect(page.get_by_role("heading", name="Alerts: pending and firing")).to_be_visible()
    await expect(page.locator(".empty")).to_have_text("Nothing is pending or firing.")
    await page.context.close()

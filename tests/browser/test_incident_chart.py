"""The incident page's alert value chart in a real Chromium: drawn on the server, readable, CSP-clean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

from browser.console_harness import SHOTS, Console, login, shot
from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.domain.incidents import Action, Actor
from service.domain.severity import Severity
from service.incidents.service import IncidentService

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]
RULES = Actor("rules", "rules")


def _details(
    rule: str, unit: str, value: float, warning: float, critical: float, level: str
) -> dict[str, Any]:
    return {
        "rule": rule,
        "unit": unit,
        "value": value,
        "level": level,
        "threshold": critical if level == "critical" else warning,
        "warning_threshold": warning,
        "critical_threshold": critical,
    }


async def incident_with_history(db: Database) -> int:
    """Two rules in different units breach; the value history runs from before the breach to after."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    clock = FrozenClock(start)
    incidents = IncidentService(db, clock=clock)
    key = "chart-checkout"
    declared = await incidents.declare(
        title="Error rate high on checkout",
        severity=Severity.P2,
        actor=RULES,
        dedup_key=key,
        labels={"service": "checkout"},
        details=_details("ErrorRateHigh", "percent", 0.05, 0.03, 0.10, "warning"),
    )
    incident_id = declared.incident.id
    clock.advance(timedelta(minutes=2))
    await incidents.declare(
        title="Latency high on checkout",
        severity=Severity.P2,
        actor=RULES,
        dedup_key=key,
        details=_details("LatencyHigh", "duration", 0.8, 0.5, 1.0, "warning"),
    )
    clock.advance(timedelta(minutes=10))
    await incidents.act(incident_id, Action.MITIGATE, Actor("ada", "web"), note="rolled back")
    rows: list[tuple[str, str, datetime, float]] = []
    for step in range(-20, 60):  # 15 s buckets from five minutes before the breach
        at = start + timedelta(seconds=15 * step)
        rising = max(0.0, min(step, 30 - step) / 30)
        rows.append((key, "ErrorRateHigh", at, 0.01 + 0.14 * rising))
        rows.append((key, "LatencyHigh", at, 0.2 + 0.9 * rising))
    async with db.connection() as conn:
        await conn.executemany(
            "INSERT INTO alert_value_samples (group_key, rule, at, value) VALUES ($1, $2, $3, $4)", rows
        )
    return incident_id


async def test_the_incident_page_draws_every_rule_with_units_thresholds_and_utc_time(
    fresh: Console, browser: Any, db: Database
) -> None:
    incident_id = await incident_with_history(db)
    page = await login(browser, fresh, "ada")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    await page.goto(f"/incidents/{incident_id}")
    chart = page.locator("#value-chart svg")
    await expect(chart).to_be_visible()
    await chart.scroll_into_view_if_needed()
    assert await chart.locator("g.panel").count() == 2
    assert [await g.get_attribute("data-rule") for g in await chart.locator("g.panel").all()] == [
        "ErrorRateHigh",
        "LatencyHigh",
    ]
    axis_titles = await chart.locator("text.y-title").all_text_contents()
    assert axis_titles == ["percent", "duration"]
    y_labels = await chart.locator("g.panel[data-rule=ErrorRateHigh] text.y-label").all_text_contents()
    assert y_labels, "the percent panel has y labels"
    assert all(label.endswith("%") for label in y_labels), y_labels
    thresholds = await chart.locator("text.threshold-label").all_text_contents()
    assert "warning 3%" in thresholds
    assert "critical 10%" in thresholds
    assert "warning 500ms" in thresholds
    assert await chart.locator("text.x-title").first.text_content() == "time (UTC)"
    assert await chart.locator("rect.incident-open").count() == 2  # one band per panel, only while open
    await expect(page.locator("#value-chart")).to_contain_text("Times in UTC")
    await page.locator("#value-chart").screenshot(path=str(SHOTS / "incident-chart.png"))
    await shot(page, "incident-page-chart")
    assert not [p for p in problems if "Content Security Policy" in p], problems
    await page.context.close()


async def test_an_incident_without_values_says_so(fresh: Console, browser: Any) -> None:
    async with fresh.api() as api:
        response = await api.post("/api/v1/incidents/", json={"title": "by hand", "severity": "P3"})
        incident_id = response.json()["incident"]["id"]
    page = await login(browser, fresh, "ada")
    await page.goto(f"/incidents/{incident_id}")
    await expect(page.locator("#value-chart")).to_contain_text("No alert values were recorded")
    assert await page.locator("#value-chart svg").count() == 0
    await page.context.close()

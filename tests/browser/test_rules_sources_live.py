"""The /rules page in a real Chromium against a live evaluator scraping a loopback target: the rule's
reading in its units, and each target's stored last read, with the SourceDown incident of the target
that never answers."""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import ROOT

from browser.console_harness import PASSWORD, listening_socket, login, serving, shot
from service.adapters.postgres.database import Database
from service.alerting import component as alerting
from service.app import build_app
from service.clock import FrozenClock
from service.settings import Settings
from service.testing.text_target import text_target
from service.web import accounts
from service.web.accounts import Role
from service.web.component import make_build as web_build
from service.web.options import WebOptions

RULES = """
sources:
  scrape:
    - name: shop
      targets: ["{up}", "127.0.0.1:9"]
      interval: 15s
      timeout: 1s
groups:
  - name: shop
    interval: 15s
    labels: {service: shop}
    rules:
      - alert: CartLatencyHigh
        signal: {source: shop, gauge: cart_latency_seconds, unit: duration}
        when: above
        warning: 500ms
        severity: {warning: P3}
"""
BODY = 'cart_latency_seconds{route="/cart"} 0.25\ncart_latency_seconds{route="/cart"} 0.3\nother 1\n'


async def _until(what: str, check: Any) -> Any:
    for _ in range(300):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never saw {what}")


async def test_the_rules_page_shows_a_live_value_and_each_targets_stored_read(
    tmp_path: Path, database_url: str, db: Database, browser: Any
) -> None:
    rules = tmp_path / "rules"
    (rules / "policy").mkdir(parents=True)
    (rules / "policy" / "severities.yaml").write_text((ROOT / "rules/policy/severities.yaml").read_text())
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    async with text_target(lambda: BODY) as metrics_url, db.connection() as conn:
        target = metrics_url.removeprefix("http://").removesuffix("/metrics")
        (rules / "shop.yaml").write_text(textwrap.dedent(RULES).replace("{up}", target))
        sock, port = listening_socket()
        url = f"http://127.0.0.1:{port}"
        templates = ROOT / "incident_templates"
        settings = Settings(rules_dir=rules, templates_dir=templates, public_url=url, port=port)
        components = [alerting.build, web_build(WebOptions(stream_seconds=3.0, heartbeat_seconds=1.0))]
        app = build_app(settings, database_url, clock=clock, components=components)
        await accounts.add_user(conn, "vic", PASSWORD, Role.VIEWER, clock())
        async with serving(app, sock, url):
            await _until(
                "both targets' reads stored",
                lambda: conn.fetchval("SELECT count(*) = 2 FROM source_statuses WHERE source = 'shop'"),
            )
            incident = None
            for _ in range(6):  # SourceDown fires once the target has been down for a minute
                clock.advance(timedelta(seconds=15))
                read = clock()
                await _until(
                    "the next round's reads",
                    lambda read=read: conn.fetchval(
                        "SELECT bool_and(read_at >= $1) FROM source_statuses WHERE source = 'shop'", read
                    ),
                )
                incident = await conn.fetchval(
                    "SELECT incident_id FROM alert_states WHERE rule = 'SourceDown_scrape_shop'"
                    " AND status = 'firing' AND incident_id IS NOT NULL"
                )
                if incident:
                    break
            assert incident is not None, "the target that never answers paged"
            await _until(
                "the rule's reading",
                lambda: conn.fetchval(
                    "SELECT value FROM rule_evaluations WHERE rule = 'CartLatencyHigh' AND value IS NOT NULL"
                ),
            )

            page = await login(browser, url, "vic")
            await page.goto("/rules")
            sources = page.locator("table.sources")
            shop = sources.locator('tr.source-row[data-source="shop"]')
            await shop.wait_for()
            await shot(page, "rules-sources-live")
            assert "1 of 2 up" in await shop.inner_text()
            link = shop.get_by_role("link", name=f"INC-{incident}")
            assert await link.get_attribute("href") == f"/incidents/{incident}"

            cells = await sources.locator(f'tr.target-row[data-instance="{target}"] td').all_inner_texts()
            assert cells[1] == "up"
            assert cells[3].endswith(" ms"), cells
            assert (cells[4], cells[5]) == ("2", "1"), "2 samples kept, the duplicate series dropped"
            assert cells[6].startswith("1 duplicate sample(s) dropped")
            down = await sources.locator('tr.target-row[data-instance="127.0.0.1:9"]').inner_text()
            assert "down" in down
            assert "never answered" in down
            assert "refused" in down.lower() or "connect" in down.lower(), down

            rule = page.locator("table.rules tr", has_text="CartLatencyHigh")
            text = await rule.inner_text()
            assert "250ms" in text, text
            assert "healthy" in text
            await page.context.close()

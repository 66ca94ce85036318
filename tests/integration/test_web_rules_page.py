"""The console's /rules page over HTTP with the real rule files: each rule's health and value in its
units, and each source's status read from its stored target reads, with its SourceDown incident."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from litestar.testing import AsyncTestClient
from test_web_sessions import PASSWORD, login, settings

from service.adapters.postgres.database import Database
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.web import accounts
from service.web.accounts import Role


async def test_the_rules_page_tells_breaching_quiet_unmatched_and_unreadable_apart(
    db: Database, database_url: str
) -> None:
    now = datetime.now(UTC)
    clock = FrozenClock(now)
    async with db.connection() as conn:
        await accounts.add_user(conn, "vic", PASSWORD, Role.VIEWER, now)
        await conn.executemany(
            "INSERT INTO rule_evaluations (rule, last_slot, evaluated_at, matched, value, data_missing,"
            " last_data_at) VALUES ($1, 1, $2, $3, $4, $5, $2)",
            [
                ("IncidentdApiLatencyHigh", now - timedelta(seconds=20), 3, 3.2, False),
                ("IncidentdCpuHigh", now - timedelta(seconds=20), 1, 0.42, False),
                ("IncidentdErrorRateHigh", now - timedelta(seconds=20), 0, None, False),
            ],
        )
        await conn.executemany(
            "INSERT INTO source_statuses (kind, source, instance, up, error, read_at, duration_seconds,"
            " samples, dropped_samples, last_success_at, replica)"
            " VALUES ('scrape', $1, $2, $3, $4, $5, 0.02, $6, $7, $8, 'r1')",
            [
                ("self", "127.0.0.1:8080", True, None, now - timedelta(seconds=5), 120, 2, now),
                ("app", "app:9100", False, "connect: connection refused", now - timedelta(seconds=5), None,
                 0, None),
            ],
        )  # fmt: skip
        incident = await conn.fetchval(
            "INSERT INTO incidents (dedup_key, title, severity, status, labels, created_by, source,"
            " created_at, updated_at) VALUES ('sd', 'app down', 2, 'triggered', '{}', 'rules', 'rules',"
            " $1, $1) RETURNING id",
            now,
        )
        await conn.execute(
            "INSERT INTO incident_events (incident_id, at, kind, actor, source, data)"
            " VALUES ($1, $2, 'declared', 'rules', 'rules', '{\"error\": \"connect: connection refused\"}')",
            incident,
            now,
        )
        await conn.execute(
            "INSERT INTO alert_states (rule, series, group_key, labels, status, level, value, incident_id,"
            " updated_at, breach_since, firing_since)"
            " VALUES ('SourceDown_scrape_app', 'x', 'g', '{}', 'firing', 'critical', 0, $1, $2, $2, $2)",
            incident,
            now,
        )
    app = build_app(settings(), database_url, clock=clock)
    async with AsyncTestClient(app=app) as client:
        await wait_until_ready(app)
        assert await login(client, "vic") == 303
        page = await client.get("/rules")
    assert page.status_code == 200
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(
            r"<tr class=\"health-row-[^\"]*\">\s*<td><strong>([^<]+)</strong>.*?</tr>", page.text, re.S
        )
    }
    assert "breaching" in rows["IncidentdApiLatencyHigh"]
    assert "3.2s" in rows["IncidentdApiLatencyHigh"]
    assert "healthy" in rows["IncidentdCpuHigh"]
    assert "42%" in rows["IncidentdCpuHigh"]
    assert "no series matched" in rows["IncidentdErrorRateHigh"]
    assert any("not evaluated yet" in row for row in rows.values())  # the rules without a reading
    order = list(rows)
    assert (
        order.index("IncidentdApiLatencyHigh")
        < order.index("IncidentdErrorRateHigh")
        < order.index("IncidentdCpuHigh")
    )  # breaching, then what cannot be judged, then healthy
    assert "incidentd.yaml:" in rows["IncidentdApiLatencyHigh"]
    sources = page.text[page.text.index('id="sources"') : page.text.index('id="rules-table"')]
    app_row = re.search(r'<tr class="source-row" data-source="app">.*?</tr>', sources, re.S)
    app_target = re.search(r'<tr class="target-row" data-source="app" data-instance="app:9100">.*?</tr>',
                           sources, re.S)  # fmt: skip
    self_target = re.search(r'<tr class="target-row" data-source="self".*?</tr>', sources, re.S)
    assert app_row is not None
    assert app_target is not None
    assert self_target is not None
    assert "▼ down" in app_row.group(0)
    assert f"INC-{incident}" in app_row.group(0)
    assert "connect: connection refused" in app_target.group(0)
    assert "never answered" in app_target.group(0)
    assert ">up<" in self_target.group(0)
    assert '<td class="num">120</td>' in self_target.group(0)
    assert '<td class="num">2</td>' in self_target.group(0), "the dropped lines"
    assert "20 ms" in self_target.group(0)
    unread = re.search(r'<tr class="source-row" data-source="app_prometheus">.*?</tr>', sources, re.S)
    assert unread is not None
    assert "not read yet" in unread.group(0)
    assert "No read stored" in unread.group(0)


async def test_the_alerts_page_marks_alerts_held_back_by_a_silence(db: Database, database_url: str) -> None:
    now = datetime.now(UTC)
    async with db.connection() as conn:
        await accounts.add_user(conn, "vic", PASSWORD, Role.VIEWER, now)
        await conn.executemany(
            "INSERT INTO alert_states (rule, series, group_key, labels, status, level, value, updated_at,"
            " breach_since, firing_since, muted)"
            " VALUES ($1, 's', $1, '{}', 'firing', 'critical', 5, $2, $2, $2, $3)",
            [("DiskFull", now, True), ("CpuHigh", now, False)],
        )
    app = build_app(settings(), database_url, clock=FrozenClock(now))
    async with AsyncTestClient(app=app) as client:
        await wait_until_ready(app)
        assert await login(client, "vic") == 303
        page = await client.get("/alerts")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"<tr><td>(\w+)</td>.*?</tr>", page.text, re.S)}
    assert ">muted</a>" in rows["DiskFull"]
    assert ">muted</a>" not in rows["CpuHigh"]

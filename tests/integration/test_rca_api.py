"""RCA documents end to end: IncidentService on a real PostgreSQL, the RCA controller over HTTP."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import AsyncTestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from service.adapters.postgres.database import DATABASE, Database
from service.clock import FrozenClock
from service.config.policy_files import load_severity_policy
from service.dependencies import STATE_NAME, Registry
from service.domain.incidents import Action, Actor
from service.domain.rca_markdown import scan, section_contents
from service.domain.rca_templates import TemplatePolicy
from service.domain.severity import Severity
from service.http.auth import API_TOKENS
from service.http.errors import EXCEPTION_HANDLERS
from service.incidents.details import DETAIL_CONTRIBUTORS
from service.incidents.routes import (
    INCIDENT_EXCEPTION_HANDLERS,
    PUBLIC_URL,
    SEVERITY_POLICY,
    IncidentController,
)
from service.incidents.service import INCIDENTS, IncidentService
from service.rca.routes import RcaController
from service.rca.service import RCA, RcaService, StaleVersion
from service.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "incident_templates"
WRITER = {"Authorization": "Bearer writer-token-1"}
READER = {"Authorization": "Bearer reader-token-1"}
RULES = Actor("api_error_rate", "rules")
START = datetime(2026, 5, 17, 23, 58, 10, tzinfo=UTC)
Client = AsyncTestClient[Litestar]


class Stack(msgspec.Struct):
    """Services for the test's own loop, plus an app whose services use a pool of their own.

    AsyncTestClient runs the app on another event loop (an anyio portal thread), and an asyncpg
    pool belongs to one loop, so the app cannot share the `db` fixture's pool.
    """

    app: Litestar
    incidents: IncidentService
    rca: RcaService
    clock: FrozenClock


def build_stack(
    db: Database,
    database_url: str,
    templates_dir: Path = TEMPLATES,
    policy: TemplatePolicy | None = None,
    middleware: list[Any] | None = None,
) -> Stack:
    clock = FrozenClock(START)
    incidents = IncidentService(db, clock=clock)
    app_db = Database(database_url, min_size=1, max_size=4)
    app_incidents = IncidentService(app_db, clock=clock)
    settings = load_settings({"INCIDENTD_API_TOKENS": "alice=writer-token-1,dash:read=reader-token-1"})
    registry = Registry(
        [
            DATABASE.given(app_db),
            INCIDENTS.given(app_incidents),
            RCA.given(RcaService(app_db, app_incidents, templates_dir, policy or TemplatePolicy())),
            API_TOKENS.given(settings.api_tokens),
            PUBLIC_URL.given("http://incidentd.test"),
            SEVERITY_POLICY.given(load_severity_policy(ROOT / "rules" / "policy" / "severities.yaml")),
            DETAIL_CONTRIBUTORS.given({}),
        ]
    )
    state = State({STATE_NAME: registry})

    async def close_pool(_: Litestar) -> None:
        await app_db.close()

    app = Litestar(
        route_handlers=[IncidentController, RcaController],
        exception_handlers={**EXCEPTION_HANDLERS, **INCIDENT_EXCEPTION_HANDLERS},
        state=state,
        on_shutdown=[close_pool],
        middleware=middleware or [],
    )
    rca = RcaService(db, incidents, templates_dir, policy or TemplatePolicy())
    return Stack(app=app, incidents=incidents, rca=rca, clock=clock)


@pytest.fixture
async def stack(db: Database, database_url: str) -> AsyncIterator[tuple[Stack, Client]]:
    built = build_stack(db, database_url)
    async with AsyncTestClient(app=built.app) as client:
        yield built, client


async def lifecycle(stack: Stack) -> int:
    """declare (with alert values) → notify → ack → raise → note → mitigate → resolve, on a frozen clock."""
    service, clock = stack.incidents, stack.clock
    declared = await service.declare(
        title="API error rate 12%",
        severity=Severity.P2,
        actor=RULES,
        dedup_key="api-errors",
        labels={"service": "api"},
        details={
            "rule": "api_error_rate",
            "value": 0.12,
            "threshold": 0.05,
            "runbook": "https://rb/api-errors",
        },
    )
    incident_id = declared.incident.id
    clock.advance(timedelta(seconds=50))
    await service.record(
        incident_id, "notification_sent", Actor("notifier", "pagerduty"), {"status": "accepted"}
    )
    clock.advance(timedelta(minutes=3, seconds=2))
    await service.act(incident_id, Action.ACKNOWLEDGE, Actor("U123", "slack"))
    clock.advance(timedelta(minutes=1))
    await service.change_severity(
        incident_id,
        Severity.P1,
        RULES,
        reason="critical level",
        details={"value": 0.2, "rule": "api_error_rate"},
    )
    clock.advance(timedelta(minutes=4))
    await service.add_note(incident_id, "rolling back deploy 42", Actor("alice", "api"))
    clock.advance(timedelta(minutes=12))
    await service.act(incident_id, Action.MITIGATE, Actor("alice", "api"), note="rollback done")
    clock.advance(timedelta(minutes=47, seconds=8))
    await service.act(incident_id, Action.RESOLVE, Actor("PXYZ", "pagerduty"))
    return incident_id


async def test_generated_rca_holds_the_whole_timeline_in_order(
    stack: tuple[Stack, Client], db: Database
) -> None:
    built, client = stack
    incident_id = await lifecycle(built)
    base = f"/api/v1/incidents/{incident_id}/rca"

    created = await client.post(base, headers=WRITER)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["version"], body["reason"], body["author"], body["new_version"]) == (
        1,
        "generated",
        "alice",
        True,
    )
    assert body["template"] == "rca-default.md.j2"  # P1 by now: the full template
    markdown = body["markdown"]

    _, events = await built.incidents.get(incident_id)
    timeline = section_contents(markdown)["timeline"].strip().splitlines()
    assert len(timeline) == len(events) == 7
    positions = []
    for line, event in zip(timeline, events, strict=True):
        at = event.at.astimezone(UTC)
        assert line.startswith(f"- {at:%Y-%m-%d} {at:%H:%M:%S} UTC: "), line
        assert line.endswith(f"({event.actor} via {event.source})"), line
        positions.append(markdown.index(line))
    assert positions == sorted(positions)
    assert "- 2026-05-18 00:02:02 UTC: acknowledged (U123 via slack)" in timeline
    assert any("note: rolling back deploy 42" in line for line in timeline)

    facts = section_contents(markdown)["facts"]
    assert "| **Duration** | 1h 8m |" in facts  # 23:58:10 → 01:06:10
    assert "| **Date** | 2026-05-17 |" in facts
    assert "| **Severity** | P1 (declared P2) |" in facts
    assert (
        "raised P2 → P1 by api_error_rate (rules): critical level" in section_contents(markdown)["severity"]
    )
    alerts = section_contents(markdown)["alerts"]
    assert "| api_error_rate | 0.2 | 0.05 | 2026-05-17 23:58:10 UTC | still firing |" in alerts  # the raise
    assert "[https://rb/api-errors](https://rb/api-errors)" in alerts
    milestones = section_contents(markdown)["milestones"]
    assert "| Acknowledged | 2026-05-18 00:02:02 UTC | time to acknowledge: 3m 52s |" in milestones
    assert "| Mitigated | 2026-05-18 00:19:02 UTC | time to mitigate: 20m 52s |" in milestones
    assert "| Resolved | 2026-05-18 01:06:10 UTC | time to resolve: 1h 8m |" in milestones
    people = section_contents(markdown)["participants"]
    assert "- U123 (Slack): first acknowledged at 2026-05-18 00:02:02 UTC" in people
    assert "- alice (API): first added a note at 2026-05-18 00:07:02 UTC" in people
    assert "- PXYZ (PagerDuty): first resolved at 2026-05-18 01:06:10 UTC" in people
    resolution = markdown.split("### Resolution", 1)[1].split("###", 1)[0]
    assert "- Mitigated by alice: rollback done" in resolution
    trail = section_contents(markdown)["trail"]
    assert "PagerDuty: notification sent (status=accepted) (notifier)" in trail
    assert "Slack: acknowledged (U123)" in trail
    assert f"](/api/v1/incidents/{incident_id}/rca/chart.svg)" in section_contents(markdown)["chart"]
    assert body["chart_url"] == f"/api/v1/incidents/{incident_id}/rca/chart.svg"
    assert "<h3>Root Cause</h3>" in body["html"]
    assert "<!--" not in body["html"]

    again = await client.post(base, headers=WRITER)
    assert again.status_code == 200
    assert (again.json()["version"], again.json()["new_version"]) == (1, False)
    assert await db.fetchval("SELECT count(*) FROM rca_versions") == 1

    chart = await client.get(f"{base}/chart.svg", headers=READER)
    assert chart.status_code == 200
    assert chart.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(chart.content)  # noqa: S314 - our own SVG, parsed to prove it is well-formed
    thresholds = [e for e in root.iter() if e.get("class") == "threshold"]
    assert [t.get("data-level") for t in thresholds] == ["threshold"]
    labels = ["".join(e.itertext()) for e in root.iter() if e.get("class") == "threshold-label"]
    assert labels == ["threshold 0.05"]
    assert len(root.findall(".//{http://www.w3.org/2000/svg}circle")) == 2


async def test_edit_regenerate_edit_keeps_human_text_byte_for_byte(
    stack: tuple[Stack, Client], db: Database
) -> None:
    built, client = stack
    incident_id = await lifecycle(built)
    base = f"/api/v1/incidents/{incident_id}/rca"
    v1 = (await client.post(base, headers=WRITER)).json()["markdown"]

    human = "A config push disabled the pool's   health checks.  \r\nÜnïcode stays — 🙂\t\n\n| odd | table\n"
    edited = v1.replace("_Describe the underlying cause", human + "_Describe the underlying cause", 1)
    # The author also takes over the severity history (deletes its markers) and edits inside the timeline.
    edited = edited.replace("<!-- incidentd:begin severity -->\n", "").replace(
        "<!-- incidentd:end severity -->\n", ""
    )
    edited = edited.replace(
        "<!-- incidentd:end timeline -->",
        "- my own line inside the timeline\n<!-- incidentd:end timeline -->",
    )
    saved = await client.put(base, json={"markdown": edited, "base_version": 1}, headers=WRITER)
    assert saved.status_code == 200, saved.text
    assert (saved.json()["version"], saved.json()["reason"]) == (2, "edited")

    built.clock.advance(timedelta(minutes=30))
    await built.incidents.add_note(incident_id, "postmortem scheduled", Actor("carol", "slack"))
    regenerated = await client.post(f"{base}/regenerate", headers=WRITER)
    assert regenerated.status_code == 200
    v3 = regenerated.json()
    assert (v3["version"], v3["reason"], v3["new_version"]) == (3, "regenerated", True)
    text = v3["markdown"]
    assert human in text
    assert "note: postmortem scheduled (carol via slack)" in section_contents(text)["timeline"]
    assert (
        "my own line inside the timeline" not in text
    )  # inside a machine section: overwritten, as documented
    assert "severity" not in section_contents(text)  # markers deleted by the author: not re-inserted

    def outside(doc: str) -> list[str]:
        sections, _ = scan(doc)
        pieces, position = [], 0
        for section in sections:
            pieces.append(doc[position : section.content_start])
            position = section.content_end
        return [*pieces, doc[position:]]

    assert outside(text) == outside(edited)

    nothing_new = await client.post(f"{base}/regenerate", headers=WRITER)
    assert (nothing_new.json()["version"], nothing_new.json()["new_version"]) == (3, False)

    second_edit = text.replace(
        "## Action Items", "## Action Items\n\n- [ ] Alert on pool health (bob, 2026-06-01)"
    )
    v4 = await client.put(base, json={"markdown": second_edit, "base_version": 3}, headers=WRITER)
    assert v4.json()["version"] == 4
    assert human in v4.json()["markdown"]

    stale = await client.put(base, json={"markdown": "lost update", "base_version": 3}, headers=WRITER)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 4
    assert "version 4" in stale.json()["detail"]
    assert (await client.get(base, headers=READER)).json()["markdown"] == second_edit

    listed = (await client.get(f"{base}/versions", headers=READER)).json()
    assert listed["current_version"] == 4
    assert [(v["version"], v["reason"], v["author"]) for v in listed["versions"]] == [
        (1, "generated", "alice"),
        (2, "edited", "alice"),
        (3, "regenerated", "alice"),
        (4, "edited", "alice"),
    ]

    diff = await client.get(f"{base}/diff?from=1&to=2", headers=READER)
    assert diff.status_code == 200
    assert diff.headers["content-type"].startswith("text/plain")
    assert diff.text.startswith(f"--- INC-{incident_id}-rca v1 (generated by alice")
    assert "\n+A config push disabled the pool's   health checks.  \r\n" in diff.text
    assert "\n-<!-- incidentd:begin severity -->\n" in diff.text
    default_diff = (await client.get(f"{base}/diff", headers=READER)).text
    assert "+- [ ] Alert on pool health (bob, 2026-06-01)" in default_diff
    missing = await client.get(f"{base}/diff?from=1&to=9", headers=READER)
    assert missing.status_code == 404
    assert "no version 9" in missing.json()["detail"]

    exported = await client.get(f"{base}/export", headers=READER)
    assert exported.headers["content-disposition"] == f'attachment; filename="INC-{incident_id}-rca.md"'
    assert exported.headers["content-type"].startswith("text/markdown")
    assert exported.content.decode() == second_edit


async def test_concurrent_saves_on_one_base_have_one_winner(
    stack: tuple[Stack, Client], db: Database
) -> None:
    built, _ = stack
    incident_id = await lifecycle(built)
    generated = await built.rca.generate(incident_id, Actor("alice", "api"))
    base_text = generated.document.markdown
    results = await asyncio.gather(
        *(
            built.rca.save(incident_id, base_text + f"\nedit {n}\n", 1, Actor(f"editor{n}", "api"))
            for n in range(8)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, StaleVersion)]
    assert [
        type(r) for r in results if isinstance(r, BaseException) and not isinstance(r, StaleVersion)
    ] == []
    assert len(winners) == 1
    assert len(losers) == 7
    assert all(loser.current_version == 2 for loser in losers)
    assert await db.fetchval("SELECT count(*) FROM rca_versions WHERE incident_id = $1", incident_id) == 2
    assert (
        await db.fetchval("SELECT current_version FROM rca_documents WHERE incident_id = $1", incident_id)
        == 2
    )


@pytest.mark.parametrize(
    ("files", "policy", "message"),
    [
        ({"rca-default.md.j2": "ok\n{{ human_id }\nmore\n"}, None, "rca-default.md.j2, line 2"),
        ({}, TemplatePolicy(by_service={"api": "api.md.j2"}), "api.md.j2: not found in"),
        ({"rca-default.md.j2": "{{ human_id }}\n{{ root_cause }}\n"}, None, "rca-default.md.j2, line 2"),
    ],
)
async def test_template_errors_are_clear_and_store_nothing(
    db: Database,
    database_url: str,
    tmp_path: Path,
    *,
    files: dict[str, str],
    policy: TemplatePolicy | None,
    message: str,
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    built = build_stack(db, database_url, tmp_path, policy)
    incident_id = await lifecycle(built)
    async with AsyncTestClient(app=built.app) as client:
        response = await client.post(f"/api/v1/incidents/{incident_id}/rca", headers=WRITER)
    assert response.status_code == 500
    body: dict[str, Any] = response.json()
    assert message in body["detail"]
    assert "no RCA version was stored" in body["detail"]
    assert await db.fetchval("SELECT count(*) FROM rca_documents") == 0
    assert await db.fetchval("SELECT count(*) FROM rca_versions") == 0


async def test_broken_template_on_regenerate_keeps_the_document(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    template = tmp_path / "rca-default.md.j2"
    template.write_text(
        "# {{ human_id }}\n<!-- incidentd:begin facts -->\n{{ duration }}\n<!-- incidentd:end facts -->\n"
    )
    built = build_stack(db, database_url, tmp_path)
    incident_id = await lifecycle(built)
    async with AsyncTestClient(app=built.app) as client:
        base = f"/api/v1/incidents/{incident_id}/rca"
        assert (await client.post(base, headers=WRITER)).status_code == 201
        template.write_text("# {{ human_id }\n")
        failed = await client.post(f"{base}/regenerate", headers=WRITER)
        assert failed.status_code == 500
        assert "rca-default.md.j2, line 1" in failed.json()["detail"]
        assert (await client.get(base, headers=READER)).json()["version"] == 1
    assert await db.fetchval("SELECT count(*) FROM rca_versions") == 1


async def test_html_is_sanitised_but_markdown_is_kept(stack: tuple[Stack, Client]) -> None:
    built, client = stack
    incident_id = await lifecycle(built)
    base = f"/api/v1/incidents/{incident_id}/rca"
    await client.post(base, headers=WRITER)
    evil = (
        '# Notes\n\n<script>fetch("/steal")</script>\n\n'
        '[x](javascript:alert(1)) <a href="javascript:alert(2)">y</a>\n'
    )
    saved = await client.put(base, json={"markdown": evil, "base_version": 1}, headers=WRITER)
    assert saved.status_code == 200
    shown = (await client.get(base, headers=READER)).json()
    assert shown["markdown"] == evil
    assert "<script" not in shown["html"]
    assert "steal" not in shown["html"]
    assert 'href="javascript' not in shown["html"].lower()
    assert "<h1>Notes</h1>" in shown["html"]


async def test_guards_validation_and_missing_things(stack: tuple[Stack, Client]) -> None:
    built, client = stack
    quiet = await built.incidents.declare(title="quiet", severity=Severity.P3, actor=Actor("bob", "api"))
    base = f"/api/v1/incidents/{quiet.incident.id}/rca"
    assert (await client.get(base, headers=READER)).status_code == 404
    assert "no RCA yet" in (await client.get(base, headers=READER)).json()["detail"]
    assert (await client.post(base)).status_code == 401
    assert (await client.post(base, headers=READER)).status_code == 403
    assert (await client.post("/api/v1/incidents/999999/rca", headers=WRITER)).status_code == 404

    created = (await client.post(base, headers=WRITER)).json()
    assert created["template"] == "rca-short.md.j2"
    assert "_No alert values were recorded._" in created["markdown"]
    assert created["chart_url"] is None
    no_chart = await client.get(f"{base}/chart.svg", headers=READER)
    assert no_chart.status_code == 404
    assert "no chart" in no_chart.json()["detail"]

    assert (
        await client.put(base, json={"markdown": "x", "base_version": 1}, headers=READER)
    ).status_code == 403
    assert (
        await client.put(base, json={"markdown": "x", "base_version": 0}, headers=WRITER)
    ).status_code == 400
    assert (await client.put(base, json={"markdown": "x"}, headers=WRITER)).status_code == 400
    nul = await client.put(base, json={"markdown": "a\u0000b", "base_version": 1}, headers=WRITER)
    assert nul.status_code == 400
    assert "NUL" in nul.json()["detail"]
    same = await client.put(base, json={"markdown": created["markdown"], "base_version": 1}, headers=WRITER)
    assert (same.json()["version"], same.json()["new_version"]) == (1, False)


async def test_export_files_writes_markdown_and_chart_side_by_side(
    stack: tuple[Stack, Client], tmp_path: Path
) -> None:
    built, _ = stack
    incident_id = await lifecycle(built)
    await built.rca.generate(incident_id, Actor("alice", "api"))
    written = await built.rca.export_files(incident_id, tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == [f"INC-{incident_id}-rca-chart.svg", f"INC-{incident_id}-rca.md"]
    markdown = (tmp_path / "out" / f"INC-{incident_id}-rca.md").read_text(encoding="utf-8")
    assert f"](INC-{incident_id}-rca-chart.svg)" in markdown
    assert "/api/v1/" not in markdown
    ET.fromstring((tmp_path / "out" / f"INC-{incident_id}-rca-chart.svg").read_bytes())  # noqa: S314 - ours
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names  # no temporary files left behind


async def test_actor_comes_from_request_user_when_auth_sets_one(db: Database, database_url: str) -> None:
    def user_middleware(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            scope["user"] = "carol"
            await app(scope, receive, send)

        return wrapped

    built = build_stack(db, database_url, middleware=[user_middleware])
    incident_id = await lifecycle(built)
    async with AsyncTestClient(app=built.app) as client:
        created = await client.post(f"/api/v1/incidents/{incident_id}/rca", headers=WRITER)
    assert (created.json()["author"], created.json()["author_source"]) == ("carol", "api")

"""GET /api/v1/reports/response over a scripted timeline, its 400s, OpenAPI, and the Prometheus histograms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.adapters.postgres.database import Database
from service.app import build_app, wait_until_ready
from service.clock import FrozenClock
from service.domain.incidents import Action, Actor
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
READER = {"Authorization": "Bearer reader-token-r"}
WRITER = {"Authorization": "Bearer writer-token-w"}
START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday, inside business hours
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def app_and_clock(db: Database, database_url: str) -> AsyncIterator[tuple[Client, FrozenClock]]:
    """The app and the clock it reads; the test scripts incidents on its own pool with the same clock."""
    settings = msgspec.structs.replace(
        load_settings({"INCIDENTD_API_TOKENS": "dash:read=reader-token-r,ops=writer-token-w"}),
        rules_dir=ROOT / "rules",
        templates_dir=ROOT / "incident_templates",
        workers=False,
    )
    clock = FrozenClock(START)
    app = build_app(settings, database_url, clock=clock)
    async with AsyncTestClient(app=app) as client:
        await wait_until_ready(app)
        yield client, clock


async def scripted(service: IncidentService, clock: FrozenClock) -> None:
    """Three P1s on checkout acked after 2, 4 and 12 min and resolved after 30, 60, 90; one P3 never acked."""
    for ack, fix in ((2, 30), (4, 60), (12, 90)):
        clock.now = START + timedelta(hours=ack)  # distinct dedup keys and times
        opened = await service.declare(
            title="checkout errors",
            severity=Severity.P1,
            actor=Actor("rules", "rules"),
            labels={"service": "checkout"},
            details={"rule": "checkout_error_rate"},
        )
        base = clock.now
        clock.now = base + timedelta(minutes=ack)
        await service.act(opened.incident.id, Action.ACKNOWLEDGE, Actor("alice", "slack"))
        clock.now = base + timedelta(minutes=fix)
        await service.act(opened.incident.id, Action.RESOLVE, Actor("alice", "slack"))
    clock.now = START + timedelta(days=8)
    await service.declare(
        title="disk", severity=Severity.P3, actor=Actor("rules", "rules"), labels={"service": "db"}
    )


async def test_response_metrics_per_severity_service_and_week(
    app_and_clock: tuple[Client, FrozenClock], db: Database
) -> None:
    client, clock = app_and_clock
    await scripted(IncidentService(db, clock=clock), clock)
    clock.advance(timedelta(hours=1))
    answer = await client.get("/api/v1/reports/response", headers=READER)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    p1 = next(r for r in report["by_severity"] if r["severity"] == "P1")
    assert p1["incidents"] == 3
    assert p1["mtta_median_seconds"] == 240.0
    assert p1["mtta_p90_seconds"] == pytest.approx(624.0)  # 4 + 0.8 * (12 - 4) minutes
    assert p1["mttr_median_seconds"] == 3600.0
    p3 = next(r for r in report["by_severity"] if r["severity"] == "P3")
    assert p3["acknowledged"] == 0
    assert p3["mtta_median_seconds"] is None
    assert {r["service"] for r in report["by_service"]} == {"checkout", "db"}
    assert [r["week"] for r in report["by_week"]] == ["2026-11-02", "2026-11-09"]
    assert report["overall"]["incidents"] == 4
    [rule] = report["alerts"]["by_rule"]
    assert rule == {"rule": "checkout_error_rate", "alerts": 3, "incidents": 3, "flaps": 0}
    filtered = await client.get(
        "/api/v1/reports/response", params={"service": "checkout", "severity": "P3"}, headers=READER
    )
    assert filtered.json()["overall"]["incidents"] == 0


async def test_histograms_are_observed_as_changes_commit(app_and_clock: tuple[Client, FrozenClock]) -> None:
    client, clock = app_and_clock
    body = {"title": "probe", "severity": "P2", "labels": {"service": "metrics-probe"}}
    opened = (await client.post("/api/v1/incidents", json=body, headers=WRITER)).json()
    incident = opened["incident"]["id"] if "incident" in opened else opened["id"]
    clock.advance(timedelta(minutes=3))
    assert (await client.post(f"/api/v1/incidents/{incident}/acknowledge", headers=WRITER)).status_code == 200
    clock.advance(timedelta(minutes=50))
    assert (await client.post(f"/api/v1/incidents/{incident}/resolve", headers=WRITER)).status_code == 200
    metrics = (await client.get("/metrics")).text
    labels = 'service="metrics-probe",severity="P2"'
    assert f'incidentd_incident_time_to_acknowledge_seconds_bucket{{le="300.0",{labels}}} 1.0' in metrics
    assert f'incidentd_incident_time_to_acknowledge_seconds_bucket{{le="120.0",{labels}}} 0.0' in metrics
    assert f"incidentd_incident_time_to_resolve_seconds_sum{{{labels}}} 3180.0" in metrics


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"severity": "P9"}, "severity"),
        ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "since"),
        ({"since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ({"service": " "}, "service"),
    ],
)
async def test_bad_parameters_are_400_naming_the_field(
    app_and_clock: tuple[Client, FrozenClock], params: dict[str, str], field: str
) -> None:
    client, _ = app_and_clock
    answer = await client.get("/api/v1/reports/response", params=params, headers=READER)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith(f"{field}: ")


async def test_documented_and_guarded(app_and_clock: tuple[Client, FrozenClock]) -> None:
    client, _ = app_and_clock
    assert (await client.get("/api/v1/reports/response")).status_code == 401
    schema = (await client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/api/v1/reports/response"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"since", "until", "service", "severity"}
    assert "ResponseReport" in str(operation["responses"]["200"])


async def test_pages_out_of_hours_targets_levels_and_flaps(
    app_and_clock: tuple[Client, FrozenClock], db: Database
) -> None:
    client, clock = app_and_clock
    service = IncidentService(db, clock=clock)
    opened = await service.declare(
        title="flappy", severity=Severity.P1, actor=Actor("rules", "rules"), details={"rule": "queue_depth"}
    )
    incident = opened.incident.id
    monday_night = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
    saturday = datetime(2026, 11, 7, 12, 0, tzinfo=UTC)
    rows = [
        (
            START + timedelta(minutes=1),
            "notification_sent",
            {"channel": "pagerduty", "kind": "trigger", "target": "default"},
        ),
        (monday_night, "notification_sent", {"channel": "pagerduty", "kind": "trigger", "target": "default"}),
        (saturday, "notification_sent", {"channel": "pagerduty", "kind": "trigger", "target": "tech-lead"}),
        (
            START + timedelta(minutes=15),
            "escalated",
            {"level": 1, "targets": {"slack_usergroups": ["oncall"]}},
        ),
        (
            saturday,
            "escalated",
            {"level": 2, "targets": {"slack_users": ["@lead"], "pagerduty": ["tech-lead"]}},
        ),
        (START + timedelta(minutes=20), "retriggered", {"rule": "queue_depth"}),
        (START + timedelta(minutes=40), "retriggered", {"rule": "queue_depth"}),
    ]
    for at, kind, data in rows:
        await db.execute(
            "INSERT INTO incident_events (incident_id, at, kind, actor, source, data)"
            " VALUES ($1, $2, $3, 'test', 'test', $4)",
            incident,
            at,
            kind,
            data,
        )
    clock.now = START + timedelta(days=7)
    since = {"since": "2026-11-01T00:00:00Z"}
    report = (await client.get("/api/v1/reports/response", params=since, headers=READER)).json()
    assert report["pages"] == [
        {"target": "default", "pages": 2, "out_of_hours": 1},
        {"target": "tech-lead", "pages": 1, "out_of_hours": 1},
    ]
    assert {(n["kind"], n["target"], n["out_of_hours"]) for n in report["notified"]} == {
        ("slack_usergroups", "oncall", 0),
        ("slack_users", "@lead", 1),
        ("pagerduty", "tech-lead", 1),
    }
    assert report["escalations_by_level"] == [{"level": 1, "escalations": 1}, {"level": 2, "escalations": 1}]
    assert report["flapping_rules"] == [{"rule": "queue_depth", "alerts": 3, "incidents": 1, "flaps": 2}]
    assert report["alerts"]["alerts_per_incident"] == 3.0

"""The response metrics read timeline data through its structs: old rows count as before."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from service.domain.incidents import Actor, Incident, Status, TimelineEvent
from service.domain.report_schedule import BusinessHours
from service.domain.severity import Severity
from service.incidents.transaction import IncidentChange
from service.reports.metrics import ResponseMetrics

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)  # a Sunday night: out of hours
RULE = "metrics_struct_rule"


def _incident() -> Incident:
    return Incident(
        id=7, dedup_key="k", title="t", description="", severity=Severity.P1, status=Status.TRIGGERED,
        labels={"service": "api"}, assignee=None, created_by="x", source="rules",
        created_at=T0, updated_at=T0,
    )  # fmt: skip


def _event(kind: str, raw: str, minutes: int) -> TimelineEvent:
    at = T0 + timedelta(minutes=minutes)
    return TimelineEvent(
        id=minutes, incident_id=7, at=at, kind=kind, actor="a", source="s", data=json.loads(raw)
    )


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_old_rows_count_as_alerts_flaps_escalations_and_pages() -> None:
    before = {
        "alerts": _sample("incidentd_rule_alerts_total", rule=RULE),
        "flaps": _sample("incidentd_rule_flaps_total", rule=RULE),
        "level": _sample("incidentd_escalations_total", level="3"),
        "pages": _sample("incidentd_pages_total", target="metrics-struct", out_of_hours="true"),
    }
    events = (
        _event("declared", f'{{"title": "t", "severity": "P1", "labels": {{}}, "rule": "{RULE}"}}', 0),
        _event("attached", f'{{"severity": "P1", "rule": "{RULE}", "value": 9.5}}', 1),
        _event("alert_cleared", f'{{"rule": "{RULE}", "series_count": 1}}', 2),
        _event("retriggered", f'{{"rule": "{RULE}"}}', 3),
        _event("escalated", '{"level": 3, "level_name": "EM", "reason": "ack_timeout", "targets": {}}', 4),
        _event(
            "notification_sent",
            '{"channel": "pagerduty", "kind": "trigger", "target": "metrics-struct", "outbox_id": 1}',
            5,
        ),
        _event("escalated", '{"level": "not a level"}', 6),
    )
    change = IncidentChange(
        incident=_incident(), previous=None, events=events, actor=Actor(name="a", source="s")
    )
    ResponseMetrics(BusinessHours())(change)
    assert _sample("incidentd_rule_alerts_total", rule=RULE) - before["alerts"] == 3  # not the clear
    assert _sample("incidentd_rule_flaps_total", rule=RULE) - before["flaps"] == 1
    assert _sample("incidentd_escalations_total", level="3") - before["level"] == 1
    assert (
        _sample("incidentd_pages_total", target="metrics-struct", out_of_hours="true") - before["pages"] == 1
    )

"""Every timeline event kind has a versioned struct, and the data the previous release wrote decodes.

The JSON below is literal: what the writers before the structs stored (service/incidents/service.py,
alerting's alert_details, escalation, silences, action items, receipts), without a `v`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.domain import event_payloads
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import (
    ActionItemEvent,
    AlertFacts,
    Assigned,
    Attached,
    Declared,
    DeliveryReceipt,
    Escalated,
    EscalationChanged,
    EscalationExhausted,
    EscalationUnmentioned,
    Note,
    RcaReminder,
    Retitled,
    SeverityChanged,
    Silenced,
    StatusChanged,
)

ALERT = (
    '"rule": "api_errors", "group": "api", "group_key": "g1", "series": {"job": "api"}, "series_count": 2,'
    ' "value": 7.5, "value_text": "7.5%", "threshold": 5, "threshold_text": "5%", "comparison": ">",'
    ' "warning_threshold": 2, "critical_threshold": 5, "unit": "percent", "level": "critical",'
    ' "summary": "API errors", "rule_title": "API errors 7.5%", "breach_since": "2026-11-30T10:00:00+00:00",'
    ' "description": "", "runbook": "https://runbooks/api", "source_file": "rules/api.yaml:3"'
)
OLD: dict[str, tuple[str, type[event_payloads.EventData], dict[str, Any]]] = {
    EventKind.DECLARED: (
        '{"title": "API errors", "severity": "P1", "labels": {"service": "api"}, ' + ALERT + "}",
        Declared,
        {"title": "API errors", "severity": "P1", "labels": {"service": "api"}, "rule": "api_errors"},
    ),
    EventKind.ATTACHED: ('{"severity": "P2", ' + ALERT + "}", Attached, {"severity": "P2", "value": 7.5}),
    EventKind.RETRIGGERED: ("{" + ALERT + "}", AlertFacts, {"series_count": 2, "level": "critical"}),
    EventKind.ALERT_CLEARED: (
        '{"rule": "api_errors", "series_count": 1, "value": null, "reason": "rule removed"}',
        AlertFacts,
        {"rule": "api_errors", "reason": "rule removed", "value": None},
    ),
    EventKind.ALERT_LEVEL_CHANGED: ('{"level": "warning", "value": "high"}', AlertFacts, {"value": "high"}),
    EventKind.ACKNOWLEDGED: (
        '{"from": "triggered", "to": "acknowledged", "note": "on it"}',
        StatusChanged,
        {"from_": "triggered", "to": "acknowledged", "note": "on it"},
    ),
    EventKind.UNACKNOWLEDGED: ('{"from": "acknowledged", "to": "triggered"}', StatusChanged, {"note": None}),
    EventKind.MITIGATED: (
        '{"from": "triggered", "to": "mitigated", "summary": "API errors", ' + ALERT + "}",
        StatusChanged,
        {"summary": "API errors", "to": "mitigated"},
    ),
    EventKind.RESOLVED: ('{"from": "mitigated", "to": "resolved", "note": "fixed"}', StatusChanged, {}),
    EventKind.REOPENED: ('{"from": "resolved", "to": "triggered"}', StatusChanged, {"from_": "resolved"}),
    EventKind.SEVERITY_RAISED: (
        '{"from": "P3", "to": "P1", "reason": "customers"}',
        SeverityChanged,
        {"from_": "P3", "to": "P1", "reason": "customers"},
    ),
    EventKind.SEVERITY_LOWERED: ('{"from": "P1", "to": "P2"}', SeverityChanged, {"reason": None}),
    EventKind.ASSIGNED: ('{"from": null, "to": "alice"}', Assigned, {"from_": None, "to": "alice"}),
    EventKind.RETITLED: ('{"from": "a", "to": "b"}', Retitled, {"from_": "a", "to": "b"}),
    EventKind.NOTE: ('{"text": "looked at the LB"}', Note, {"text": "looked at the LB"}),
    EventKind.SILENCED: ('{"reasons": ["silence 4"], "alerts": 3}', Silenced, {"reasons": ["silence 4"]}),
    EventKind.UNSILENCED: ('{"alerts_firing_unmuted": 2}', Silenced, {"alerts_firing_unmuted": 2}),
    EventKind.ESCALATED: (
        '{"level": 2, "level_name": "Technical lead", "reason": "ack_timeout",'
        ' "targets": {"pagerduty": ["tech-lead"], "slack_channels": ["#alerts"]}, "attempt": 1,'
        ' "policy": "default", "severity": "P1", "pages": true}',
        Escalated,
        {"level": 2, "targets": {"pagerduty": ["tech-lead"], "slack_channels": ["#alerts"]}},
    ),
    EventKind.ESCALATION_EXHAUSTED: (
        '{"level": 4, "level_name": "CTO", "attempts": 3, "policy": "default"}',
        EscalationExhausted,
        {"level": 4, "attempts": 3},
    ),
    EventKind.ESCALATION_STOPPED: (
        '{"reason": "acknowledged"}',
        EscalationChanged,
        {"reason": "acknowledged"},
    ),
    EventKind.ESCALATION_REARMED: ('{"reason": "reopened"}', EscalationChanged, {"reason": "reopened"}),
    EventKind.ESCALATION_UNMENTIONED: (
        '{"level": 1, "names": ["usergroup oncall"]}',
        EscalationUnmentioned,
        {"names": ["usergroup oncall"]},
    ),
    EventKind.RCA_REMINDER: (
        '{"stage": "draft", "due": "2026-12-02T10:00:00+00:00", "owner": null}',
        RcaReminder,
        {"stage": "draft", "owner": None},
    ),
    EventKind.NOTIFICATION_SENT: (
        '{"channel": "slack", "kind": "post", "target": "#alerts", "outbox_id": 7}',
        DeliveryReceipt,
        {"outbox_id": 7, "error": None},
    ),
    EventKind.NOTIFICATION_FAILED: (
        '{"channel": "pagerduty", "kind": "trigger", "target": "default", "outbox_id": 9, "error": "400"}',
        DeliveryReceipt,
        {"error": "400"},
    ),
    EventKind.ACTION_ITEM_ADDED: (
        '{"item": "AI-3", "title": "Add alert", "owner": null, "due": "2026-12-09", "status": "open"}',
        ActionItemEvent,
        {"item": "AI-3", "owner": None, "due": "2026-12-09"},
    ),
    EventKind.ACTION_ITEM_UPDATED: (
        '{"item": "AI-3", "title": "Add alert", "owner": "bob", "due": "2026-12-09", "status": "done",'
        ' "changed": "owner, status"}',
        ActionItemEvent,
        {"changed": "owner, status", "status": "done"},
    ),
    EventKind.ACTION_ITEM_DUE: (
        '{"item": "AI-3", "title": "Add alert", "owner": "bob", "due": "2026-12-09", "status": "open",'
        ' "stage": "overdue"}',
        ActionItemEvent,
        {"stage": "overdue"},
    ),
}


def test_every_event_kind_has_a_struct_and_an_old_row_here() -> None:
    assert set(event_payloads.PAYLOADS) == set(EventKind)
    assert set(OLD) == set(EventKind)


@pytest.mark.parametrize("kind", sorted(OLD))
def test_data_the_previous_release_wrote_decodes_to_its_struct(kind: str) -> None:
    raw, struct, expected = OLD[kind]
    told = event_payloads.decode(kind, json.loads(raw))
    assert type(told) is struct
    assert told.v == 0
    for field, value in expected.items():
        assert getattr(told, field) == value, field


@pytest.mark.parametrize("kind", sorted(OLD))
def test_what_a_struct_writes_decodes_to_the_same_struct(kind: str) -> None:
    raw, _, _ = OLD[kind]
    told = event_payloads.decode(kind, json.loads(raw))
    assert told is not None
    again = event_payloads.decode(kind, json.loads(json.dumps(told.as_data())))
    assert again == told


def test_version_0_is_stored_without_v_and_a_later_one_with_it() -> None:
    assert "v" not in StatusChanged(from_="triggered", to="acknowledged").as_data()
    assert StatusChanged(v=1, to="resolved").as_data() == {"v": 1, "from": "", "to": "resolved"}
    assert event_payloads.decode(EventKind.NOTE, {"v": 1, "text": "x", "later": True}) == Note(v=1, text="x")


def test_data_that_does_not_fit_its_kind_is_none_and_an_unknown_kind_too() -> None:
    assert event_payloads.decode(EventKind.NOTE, {"text": ["not", "text"]}) is None
    assert event_payloads.decode(EventKind.ESCALATED, {"level": "two"}) is None
    assert event_payloads.decode("from_a_newer_release", {"x": 1}) is None


def test_extra_facts_stay_flat_beside_the_struct_s_and_never_override_them() -> None:
    data = event_payloads.data_of(StatusChanged(from_="triggered", to="mitigated"), {"rule": "r", "to": "x"})
    assert data == {"rule": "r", "from": "triggered", "to": "mitigated"}

"""Rows written before payloads were versioned still decode: literal JSON in the old format."""

from __future__ import annotations

import json

import msgspec
import pytest

from service.domain import event_payloads
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import DeliveryReceipt, Escalated
from service.notifications import payloads
from service.notifications.outcomes import DeliveryError
from service.notifications.payloads import (
    PagerDutyAction,
    PagerDutyTrigger,
    SlackMessage,
    StormSummary,
)

OLD_TRIGGER = """{"dedup_key": "manual-c13446d4810cb5ca", "summary": "P1 INC-1: node 0 down",
 "source": "incidentd", "severity": "error", "payload": {"timestamp": "2026-03-01T12:00:00+00:00"},
 "custom_details": {"incident": "INC-1", "labels": {}},
 "links": [{"href": "http://incidentd.test/incidents/1", "text": "INC-1 in incidentd"}]}"""
OLD_ACK = '{"dedup_key": "manual-c13446d4810cb5ca"}'
OLD_POST = '{"snapshot": {"human_id": "INC-1", "title": "node 0 down"}, "changes": []}'
OLD_STORM_POST = '{"snapshot": {"human_id": "INC-2"}, "changes": [], "storm_key": "storm:#alerts:29"}'
OLD_SUMMARY = '{"storm_key": "storm:#alerts:29", "channel": "#alerts", "interval_seconds": 60.0}'
OLD_ESCALATED = """{"level": 2, "level_name": "L2 team lead", "reason": "timeout",
 "targets": {"pagerduty": ["default"], "slack_channels": ["#alerts-critical"], "slack_users": [],
 "slack_usergroups": []}, "attempt": 1, "policy": "default", "severity": "P1", "pages": true}"""
OLD_RECEIPT = '{"channel": "pagerduty", "kind": "trigger", "target": "default", "outbox_id": 7}'


def test_old_outbox_payloads_decode_as_version_zero() -> None:
    trigger = payloads.decode(json.loads(OLD_TRIGGER), PagerDutyTrigger)
    assert trigger.v == 0
    assert trigger.summary == "P1 INC-1: node 0 down"
    assert trigger.links == [{"href": "http://incidentd.test/incidents/1", "text": "INC-1 in incidentd"}]
    assert payloads.decode(json.loads(OLD_ACK), PagerDutyAction).dedup_key == "manual-c13446d4810cb5ca"
    post = payloads.decode(json.loads(OLD_POST), SlackMessage)
    assert post.snapshot["human_id"] == "INC-1"
    assert post.storm_key is None
    assert payloads.decode(json.loads(OLD_STORM_POST), SlackMessage).storm_key == "storm:#alerts:29"
    summary = payloads.decode(json.loads(OLD_SUMMARY), StormSummary)
    assert (summary.channel, summary.interval_seconds) == ("#alerts", 60.0)


def test_new_payloads_carry_their_version_and_omit_absent_fields() -> None:
    stored = payloads.encode(SlackMessage(v=payloads.VERSION, snapshot={"human_id": "INC-3"}))
    assert stored == {"v": 1, "snapshot": {"human_id": "INC-3"}}
    assert "storm_key" not in stored  # the storm queries look for the key itself
    again = payloads.decode(json.loads(json.dumps(stored)), SlackMessage)
    assert again.v == 1


def test_a_payload_that_does_not_fit_is_a_dead_letter_naming_the_field() -> None:
    with pytest.raises(DeliveryError) as raised:
        payloads.decode({"summary": "x"}, PagerDutyTrigger)
    assert not raised.value.retry
    assert "dedup_key" in str(raised.value)


def test_old_timeline_event_data_decodes() -> None:
    told = event_payloads.read(json.loads(OLD_ESCALATED), Escalated)
    assert told is not None
    assert told.v == 0
    assert told.targets_of("pagerduty") == ["default"]
    assert told.targets_of("slack_channels") == ["#alerts-critical"]
    assert told.targets_of("email") == []
    receipt = event_payloads.read(json.loads(OLD_RECEIPT), DeliveryReceipt)
    assert receipt is not None
    assert receipt.error is None
    assert receipt.outbox_id == 7
    assert event_payloads.read({"level": "two"}, Escalated) is None


def test_event_kinds_are_the_strings_stored_on_the_timeline() -> None:
    assert str(EventKind.ESCALATED) == "escalated"
    assert msgspec.json.encode({"kind": EventKind.NOTIFICATION_SENT}) == b'{"kind":"notification_sent"}'
    assert {"declared", "resolved"} & {EventKind.DECLARED} == {"declared"}

"""A P1 with 10,000 labels still pages: the event is cut to PagerDuty's 512 KB limit, with a note."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.config.notification_policy_files import load_notification_policy
from service.notifications.channels.pagerduty.delivery import PagerDutyDelivery
from service.notifications.channels.pagerduty.limits import MAX_EVENT_BYTES, NOTE_KEY, fit_event
from service.testing.fake_pagerduty import FakePagerDuty

ROOT = Path(__file__).resolve().parents[2]
KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


def _trigger(labels: dict[str, str]) -> dict[str, object]:
    return {
        "dedup_key": "incidentd-1",
        "summary": "[P1] INC-1 checkout error rate 4.2 % above 1 %",
        "source": "checkout",
        "severity": "error",
        "custom_details": {"incident": "INC-1", "labels": labels, "runbook": "https://runbooks.example/x"},
        "links": [{"href": "http://incidentd.test/api/v1/incidents/1", "text": "INC-1 in incidentd"}],
    }


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty()
    await fake.start()
    yield fake
    await fake.stop()


async def test_ten_thousand_labels_still_page_with_a_note(pagerduty: FakePagerDuty) -> None:
    labels = {f"label_{n:05d}": "v" * 90 for n in range(10_000)}  # about 1 MB of labels
    policy = load_notification_policy(ROOT / "rules" / "policy" / "notifications.yaml")
    delivery = PagerDutyDelivery(policy, {"PAGERDUTY_ROUTING_KEY": KEY}, pagerduty.url)
    try:
        await delivery.send("trigger", "default", _trigger(labels))
    finally:
        delivery.close()
    [event] = pagerduty.events  # accepted: the fake refuses events over 512 KB, as PagerDuty does
    assert len(json.dumps(event, separators=(",", ":")).encode()) <= MAX_EVENT_BYTES
    details = event["payload"]["custom_details"]
    kept = details["labels"]
    assert 4_000 < len(kept) < 10_000
    assert list(kept) == list(labels)[: len(kept)]  # the first ones, in order, unchanged
    assert details["incident"] == "INC-1"
    assert details["runbook"] == "https://runbooks.example/x"
    assert f"labels: {10_000 - len(kept):,} of 10,000 left out" in details[NOTE_KEY]
    assert "512 KB" in details[NOTE_KEY]
    assert event["payload"]["summary"].startswith("[P1] INC-1")


async def test_the_fake_refuses_what_pagerduty_refuses(pagerduty: FakePagerDuty) -> None:
    """Without the cut the same event is over the limit, so the test above can fail."""
    event = {"payload": _trigger({f"label_{n:05d}": "v" * 90 for n in range(10_000)})}
    assert len(json.dumps(event, separators=(",", ":")).encode()) > MAX_EVENT_BYTES


def test_a_small_event_is_sent_as_it_is() -> None:
    event = {"payload": {"summary": "s", "custom_details": {"labels": {"a": "b"}}}}
    assert fit_event(event) is event


def test_one_huge_value_is_shortened_not_dropped() -> None:
    event = {"payload": {"summary": "s", "custom_details": {"breach": "x" * 600_000, "incident": "INC-2"}}}
    fitted = fit_event(event)
    details = fitted["payload"]["custom_details"]
    assert details["incident"] == "INC-2"
    assert details["breach"].endswith("…")
    assert len(details["breach"]) == 1000
    assert "long values shortened" in details[NOTE_KEY]

"""The notifications policy file, webhook signatures and message rendering: pure, no I/O beyond tmp files."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from service.config.fields import PolicyError
from service.config.notification_policy_files import load_notification_policy
from service.domain.severity import Severity
from service.notifications import messages
from service.notifications.channels.pagerduty.webhooks import signature_valid

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_policy_follows_the_runbook_alert_channels() -> None:
    policy = load_notification_policy(ROOT / "rules" / "policy" / "notifications.yaml")
    assert [s for s in Severity if policy.pages(s)] == [Severity.P0, Severity.P1]
    assert policy.slack_channels(Severity.P0) == ["#alerts", "#alerts-critical"]
    assert policy.slack_channels(Severity.P3) == ["#alerts"]
    assert policy.resolve_routing_key("default", {"PAGERDUTY_ROUTING_KEY": "k" * 32}) == "k" * 32
    assert policy.env_name("database-team") == "PAGERDUTY_ROUTING_KEY_DATABASE_TEAM"
    assert policy.resolve_routing_key("database-team", {}) is None


def test_policy_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "notifications.yaml"
    path.write_text(
        "pagerduty:\n"
        "  page_severities: [P0, P9]\n"
        "  routing_keys:\n"
        "    default: 0123456789abcdef0123456789abcdef\n"
        "slack:\n"
        "  channels:\n"
        "    - channel: '#alerts'\n"
        "      severities: [P0]\n"
        "  storm: {max_new_incidents: 0, interval: soon}\n"
    )
    with pytest.raises(PolicyError) as caught:
        load_notification_policy(path)
    text = str(caught.value)
    assert f"{path}:2: pagerduty.page_severities[1]: unknown severity 'P9'" in text
    assert f"{path}:4: pagerduty.routing_keys.default: expected the NAME of an environment variable" in text
    assert "0123456789abcdef0123456789abcdef" not in text
    assert "slack.storm.max_new_incidents: must be at least 1" in text
    assert "slack.storm.interval: bad duration 'soon'" in text


def test_signatures_any_of_several_against_any_secret() -> None:
    body = b'{"event": {}}'
    good = "v1=" + hmac.new(b"s2", body, hashlib.sha256).hexdigest()
    assert signature_valid(body, good, ["s1", "s2"])
    assert signature_valid(body, f"v1=deadbeef,{good}", ["s2"])
    assert not signature_valid(body, good, ["s1"])
    assert not signature_valid(body + b" ", good, ["s2"])
    assert not signature_valid(body, good.replace("v1=", "v0="), ["s2"])
    assert not signature_valid(body, good, [])


def test_pagerduty_severity() -> None:
    assert [messages.PD_SEVERITY[s] for s in Severity] == ["critical", "error", "warning", "info"]

"""Escalation targets name a channel plug-in and its targets; the plug-in judges them at `incidentd check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.config.escalation_policy_files import load_escalation_policy
from service.notifications.channels.email.smtp_settings import SmtpSettingsError, parse
from service.notifications.channels.registry import check_target

ROOT = Path(__file__).resolve().parents[2]
HEAD = """severities:
  P1: {ack_within: 5m, expected_resolution: 1h, pagerduty: true, slack: true}
  P2: {ack_within: 5m, expected_resolution: 1h, pagerduty: false, slack: true}
  P3: {ack_within: 5m, expected_resolution: 1h, pagerduty: false, slack: true}
  P0: {ack_within: 5m, expected_resolution: 1h, pagerduty: true, slack: true}
policies:
  - name: default
    levels:
      - name: On-call
        respond_within: 5m
        targets:
"""


def _load(tmp_path: Path, targets: str) -> tuple[object, list[str]]:
    path = tmp_path / "escalation.yaml"
    path.write_text(HEAD + targets)
    policy, problems = load_escalation_policy(path, base=tmp_path, check_target=check_target)
    return policy, [str(p) for p in problems]


def test_the_shipped_policy_keeps_working_with_the_plug_ins_checking() -> None:
    policy, problems = load_escalation_policy(
        ROOT / "rules" / "policy" / "escalation.yaml", check_target=check_target
    )
    assert problems == []
    assert policy is not None


def test_a_target_of_another_channel_is_kept_by_name(tmp_path: Path) -> None:
    policy, problems = _load(tmp_path, "          pagerduty: [default]\n          slack_channels: ['#ops']\n")
    assert problems == []
    assert policy is not None


def test_an_unknown_channel_is_named_with_file_and_line(tmp_path: Path) -> None:
    _, problems = _load(tmp_path, "          pagerduty: [default]\n          pagerdooty: [default]\n")
    assert problems == [
        "escalation.yaml:13: policies[0].levels[0].targets.pagerdooty[0]:"
        " no channel plug-in named 'pagerdooty'; did you mean 'pagerduty'?"
    ]


def test_a_bad_target_is_refused_by_its_plug_in(tmp_path: Path) -> None:
    _, problems = _load(tmp_path, "          pagerduty: ['no spaces please']\n")
    assert len(problems) == 1
    assert "escalation.yaml:12: policies[0].levels[0].targets.pagerduty[0]" in problems[0]
    assert "routing-key reference" in problems[0]


def test_targets_must_be_a_list_of_text(tmp_path: Path) -> None:
    _, problems = _load(tmp_path, "          slack_channels: ['#ops']\n          extra: 5\n")
    assert problems == [
        "escalation.yaml:13: policies[0].levels[0].targets.extra: expected a list of targets (text)"
    ]


def test_email_targets_are_addresses(tmp_path: Path) -> None:
    _, problems = _load(tmp_path, "          email: [oncall@example.com, not-an-address]\n")
    assert problems == [
        "escalation.yaml:12: policies[0].levels[0].targets.email[1]: 'not-an-address' is not an email address"
    ]
    _, fine = _load(tmp_path, "          email: [oncall@example.com]\n")
    assert fine == []


def test_webhook_targets_are_names_not_urls(tmp_path: Path) -> None:
    _, problems = _load(tmp_path, "          webhook: [ops-bot, 'https://x.example/hook']\n")
    assert len(problems) == 1
    assert "targets.webhook[1]: 'https://x.example/hook' is not a webhook target name" in problems[0]


def test_smtp_urls_are_read_as_documented() -> None:
    plain = parse({"INCIDENTD_SMTP_URL": "smtp://relay.example", "INCIDENTD_EMAIL_FROM": "i@example.com"})
    assert plain is not None
    assert (plain.port, plain.starttls, plain.implicit_tls, plain.username) == (25, False, False, None)
    tls = parse(
        {"INCIDENTD_SMTP_URL": "smtps://u%40x:p%2Fw@relay.example", "INCIDENTD_EMAIL_FROM": "i@example.com"}
    )
    assert tls is not None
    assert (tls.port, tls.implicit_tls, tls.username, tls.password) == (465, True, "u@x", "p/w")
    assert "p/w" not in repr(tls)
    start = parse(
        {
            "INCIDENTD_SMTP_URL": "smtp://relay.example:2525?starttls=true",
            "INCIDENTD_EMAIL_FROM": "i@example.com",
        }
    )
    assert start is not None
    assert (start.port, start.starttls) == (2525, True)
    assert parse({"INCIDENTD_SMTP_URL": "smtp://relay.example"}) is None  # no From: not configured
    with pytest.raises(SmtpSettingsError, match="smtp:// or smtps://"):
        parse({"INCIDENTD_SMTP_URL": "http://relay.example", "INCIDENTD_EMAIL_FROM": "i@example.com"})

"""`incidentd serve` refuses to start on channel configuration that can never deliver: one line, exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    return rules


def _serve(env_extra: dict[str, str], rules: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "INCIDENTD_", "PAGERDUTY_"))}
    # Nothing listens there: a refusal must come before the database is touched.
    env.update(DATABASE_URL="postgresql://postgres@127.0.0.1:9/none", INCIDENTD_RULES_DIR=str(rules))
    env.update(INCIDENTD_PORT="9", **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "service", "serve"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _escalation_naming(rules: Path, channel: str) -> int:
    """Rename the first level's `slack_channels` to `channel`; the line it is on."""
    policy = rules / "policy" / "escalation.yaml"
    lines = policy.read_text().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if "slack_channels:" in line and "targets" in line)
    lines[number] = lines[number].replace("slack_channels:", f"{channel}:", 1)
    policy.write_text("".join(lines))
    return number + 1


def _only_refusals(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert all(line.startswith("incidentd: cannot start: ") for line in lines), lines
    return [line.removeprefix("incidentd: cannot start: ") for line in lines]


def test_an_escalation_policy_naming_an_unknown_channel_stops_serve(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    line = _escalation_naming(rules, "slak")
    refused = _only_refusals(_serve({}, rules))
    assert len(refused) == 1
    assert refused[0].startswith(f"{rules}/policy/escalation.yaml:{line}: policies[0].levels[0].targets.slak")
    assert "no channel plug-in named 'slak'" in refused[0]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"INCIDENTD_SMTP_URL": "smtp://:2525", "INCIDENTD_EMAIL_FROM": "i@example.com"},
            "INCIDENTD_SMTP_URL: no host",
        ),
        (
            {"INCIDENTD_SMTP_URL": "http://relay", "INCIDENTD_EMAIL_FROM": "i@example.com"},
            "INCIDENTD_SMTP_URL: expected smtp:// or smtps://, got http://",
        ),
        (
            {"INCIDENTD_WEBHOOK_OPS_BOT_URL": "ftp://bots.example.com/hook?token=tok-123"},
            "INCIDENTD_WEBHOOK_OPS_BOT_URL: expected an http:// or https:// URL with a host",
        ),
        (
            {"INCIDENTD_WEBHOOK_OPS_BOT_URL": "https://bots.example.com:port/hook"},
            "INCIDENTD_WEBHOOK_OPS_BOT_URL: expected an http:// or https:// URL with a host",
        ),
    ],
)
def test_a_malformed_channel_url_stops_serve_naming_the_variable(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = _serve(env, _rules(tmp_path))
    assert _only_refusals(result) == [message]
    assert "tok-123" not in result.stderr + result.stdout


def test_a_notifications_route_to_an_unknown_channel_stops_serve(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    policy = rules / "policy" / "notifications.yaml"
    policy.write_text(policy.read_text() + "routes:\n  - severities: [P0]\n    pigeon: [loft-1]\n")
    line = len(policy.read_text().splitlines())
    refused = _only_refusals(_serve({}, rules))
    known = "(known: pagerduty, slack, email, webhook)"
    assert refused == [f"{policy}:{line}: routes[0].pigeon: no channel plug-in named 'pigeon' {known}"]

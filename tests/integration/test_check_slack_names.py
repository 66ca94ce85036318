"""`incidentd check` asks Slack about every person the escalation policy names, when it can."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from service.testing.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
POLICY = """
severities:
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
          slack_usergroups: [oncall, nightwatch]
          slack_users: ["@tech-lead", "ghost@example.com", U0GIVEN]
"""


async def _check(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "check", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    return process.returncode or 0, err.decode()


async def test_check_warns_about_names_slack_does_not_know(tmp_path: Path) -> None:
    policy = tmp_path / "escalation.yaml"
    policy.write_text(POLICY)
    slack = FakeSlack()
    await slack.start()
    try:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "INCIDENTD_", "PAGERDUTY_"))
        }
        env.update(
            INCIDENTD_ESCALATION_POLICY=str(policy),
            SLACK_BOT_TOKEN="xoxb-check",
            SLACK_API_URL=f"{slack.url}/api/",
        )
        code, err = await _check(env)
    finally:
        await slack.stop()
    assert code == 0, err
    assert (
        "warning: escalation policy: usergroup 'nightwatch': no Slack user group with handle @nightwatch"
        in err
    )
    assert (
        "warning: escalation policy: user 'ghost@example.com': no Slack user with e-mail ghost@example.com"
        in err
    )
    assert "oncall" not in err
    assert "tech-lead" not in err
    assert "U0GIVEN" not in err


async def test_check_names_the_scope_slack_says_is_missing(tmp_path: Path) -> None:
    slack = FakeSlack(granted=frozenset({"chat:write", "users:read"}))
    await slack.start()
    try:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "INCIDENTD_", "PAGERDUTY_"))
        }
        env.update(SLACK_BOT_TOKEN="xoxb-check", SLACK_API_URL=f"{slack.url}/api/")
        code, err = await _check(env)
    finally:
        await slack.stop()
    assert code == 0, err
    assert "Slack said missing_scope (needs scope usergroups:read)" in err


async def test_check_says_when_slack_cannot_be_asked(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "INCIDENTD_", "PAGERDUTY_"))}
    env.update(SLACK_BOT_TOKEN="xoxb-check", SLACK_API_URL="http://127.0.0.1:9/api/")
    code, err = await _check(env)
    assert code == 0, err
    assert "warning: Slack could not be asked about the escalation policy's names" in err

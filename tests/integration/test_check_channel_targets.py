"""`incidentd check` asks each channel plug-in about the escalation targets that name it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POLICY = """severities:
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
          email: [oncall@example.com, "on call"]
          webhook: [ops-bot]
          teams: [x]
"""


async def test_check_names_bad_channel_targets_with_file_and_line(tmp_path: Path) -> None:
    policy = tmp_path / "escalation.yaml"
    policy.write_text(POLICY)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "INCIDENTD_", "PAGERDUTY_"))}
    env.update(
        INCIDENTD_ESCALATION_POLICY=str(policy),
        INCIDENTD_SMTP_URL="ftp://relay",
        INCIDENTD_EMAIL_FROM="i@x.org",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "check", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    text = err.decode()
    assert process.returncode == 1, text
    assert (
        "escalation.yaml:12: policies[0].levels[0].targets.email[1]: 'on call' is not an email address"
        in text
    )
    assert "targets.teams[0]: no channel plug-in named 'teams'" in text
    assert "ops-bot" not in text
    assert "INCIDENTD_SMTP_URL: expected smtp:// or smtps://, got ftp://" in text

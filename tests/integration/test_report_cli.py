"""`incidentd report daily --print | --send` and `incidentd check` on reports.yaml, as a person runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from service.adapters.postgres.database import Database
from service.domain.incidents import Actor
from service.domain.severity import Severity
from service.incidents.service import IncidentService

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "incidentd"


def run(args: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTD_")}
    env = {
        **base,
        "INCIDENTD_RULES_DIR": str(ROOT / "rules"),
        "INCIDENTD_TEMPLATES_DIR": str(ROOT / "incident_templates"),
        "INCIDENTD_LOG_FORMAT": "json",
        "INCIDENTD_PUBLIC_URL": "https://incidents.example.com",
        **extra,
    }
    return subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False, cwd=ROOT
    )


async def test_print_shows_the_summary_and_sends_nothing(db: Database, database_url: str) -> None:
    await IncidentService(db).declare(title="Checkout <down>", severity=Severity.P1, actor=Actor("a", "api"))
    queued = await db.fetchval("SELECT count(*) FROM notification_outbox")
    printed = run(["report", "daily", "--print"], DATABASE_URL=database_url)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("Subject: Incident summary for ")
    assert "INC-1 [P1] Checkout <down>" in printed.stdout
    assert "https://incidents.example.com/incidents/1" in printed.stdout
    html = run(["report", "daily", "--print", "--format", "html"], DATABASE_URL=database_url)
    assert "Checkout &lt;down&gt;" in html.stdout
    assert await db.fetchval("SELECT count(*) FROM notification_outbox") == queued
    sent = run(["report", "daily", "--send"], DATABASE_URL=database_url)
    assert sent.returncode == 0, sent.stderr
    assert '"email": "skipped: no email channel is installed"' in sent.stdout
    digest = await db.fetchval("SELECT count(*) FROM notification_outbox WHERE payload->>'what' = 'digest'")
    assert digest == 1


def test_check_names_the_file_line_and_field(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    shutil.copytree(ROOT / "rules" / "policy", policy)
    (policy / "reports.yaml").write_text("daily_summary:\n  time_zone: Nowhere/Special\n")
    bad = run(["check"], INCIDENTD_POLICY_DIR=str(policy))
    assert bad.returncode == 1
    assert f"{policy / 'reports.yaml'}:2: daily_summary.time_zone: unknown IANA time zone" in bad.stderr
    variable = run(["check"], INCIDENTD_DAILY_SUMMARY_TO="ops@example.com,nope")
    assert variable.returncode == 1
    assert "INCIDENTD_DAILY_SUMMARY_TO: not an email address: 'nope'" in variable.stderr
    assert run(["check"], INCIDENTD_DAILY_SUMMARY_TO="ops@example.com").returncode == 0

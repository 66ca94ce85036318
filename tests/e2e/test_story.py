"""The whole product over real processes: incidentd as a subprocess, the app and fakes over HTTP.

The same story as `make demo` (demo/story.py), asserted: a metric crosses 004's
thresholds, the incident opens once, pages once, escalates at the policy's
offsets, is acknowledged and resolved from Slack, and its RCA holds every step.
The second run SIGKILLs incidentd right after it decided to page.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from demo.story import StoryOptions, StoryResult, run_story
from demo.watcher import DEDUP_KEY
from service.adapters.postgres.database import Database

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ACK_WITHIN = timedelta(seconds=8)  # demo/escalation-demo.yaml: P1 ack_within and L1 respond_within
STEP_SLACK = timedelta(seconds=4)  # the escalation worker wakes at least every second; CI machines are busy


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["at"])


def _first(result: StoryResult, kind: str, **data: Any) -> dict[str, Any]:
    return next(
        e
        for e in result.timeline
        if e["kind"] == kind and all(e["data"].get(k) == v for k, v in data.items())
    )


def _check_story(result: StoryResult) -> None:
    actions = [e["event_action"] for e in result.pagerduty_events]
    assert sorted(actions) == ["acknowledge", "resolve", "trigger"], actions
    assert {e["dedup_key"] for e in result.pagerduty_events} == {DEDUP_KEY}
    assert actions.index("trigger") < actions.index("acknowledge") < actions.index("resolve")

    trigger = next(e for e in result.pagerduty_events if e["event_action"] == "trigger")
    summary = trigger["payload"]["summary"]
    # Paged after the raise to P1: the title names the problem, the state is the critical reading now.
    assert re.match(
        rf"P1 INC-{result.incident_id}: Error rate high on app: [\d.]+% of requests fail with 5xx"
        r" \(critical: above 10%\)",
        summary,
    ), summary
    assert "warning: above 3%" not in summary
    assert trigger["payload"]["class"] == "ErrorRateHigh"
    assert trigger["payload"]["timestamp"]
    assert all(link["href"].startswith("http") for link in trigger["links"])
    kinds_sent = [(e["kind"], e["data"].get("kind")) for e in result.timeline]
    # Recovery tells PagerDuty (so its own escalation stops) before any person resolves.
    assert kinds_sent.index(("notification_sent", "resolve")) < kinds_sent.index(("resolved", None))

    posts = [c for c in result.slack_calls if c["path"] == "/api/chat.postMessage"]
    top_level = [c["body"]["channel"] for c in posts if not c["body"].get("thread_ts")]
    assert sorted(top_level) == ["#alerts", "#alerts-critical"]  # one message per channel, never reposted
    critical = next(c["body"] for c in posts if c["body"]["channel"] == "#alerts-critical")
    assert critical["text"].startswith(f"P1 INC-{result.incident_id} triggered: Error rate high on app: ")
    assert "warning: above 3%" not in critical["text"]
    mentions = [c["body"]["text"] for c in posts if "Escalated to" in c["body"].get("text", "")]
    assert any("<!subteam^S0ONCALL|@oncall>" in text for text in mentions), mentions
    assert any("<@U0TECHLEAD>" in text for text in mentions), mentions
    assert any(c["path"] == "/api/chat.update" for c in result.slack_calls)

    kinds = [e["kind"] for e in result.timeline]
    assert kinds.count("declared") == 1
    escalations = [e["data"]["level"] for e in result.timeline if e["kind"] == "escalated"]
    assert escalations == [1, 2]
    declared = _at(_first(result, "declared"))
    level_1 = _at(_first(result, "escalated", level=1))
    level_2 = _at(_first(result, "escalated", level=2))
    # level 1 is due ack_within after the declaration, and a step that fell due while incidentd was
    # dead fires as soon as it is back; each later level is due respond_within after the previous
    # one was told (service/domain/escalation_schedule.py next_rung)
    due_1 = declared + ACK_WITHIN
    assert due_1 <= level_1 <= max(due_1, result.back_at or declared) + STEP_SLACK
    # the escalated event carries the moment the next rung was timed from (escalation/performing.py)
    assert level_1 + ACK_WITHIN <= level_2 <= level_1 + ACK_WITHIN + STEP_SLACK
    assert _first(result, "acknowledged")["source"] == "slack"

    story = ["declared", "severity_raised", "escalated", "acknowledged", "mitigated", "resolved"]
    positions = [kinds.index(k) for k in story]
    assert positions == sorted(positions)

    timeline = result.rca_markdown.split("incidentd:begin timeline", 1)[1].split("incidentd:end timeline")[0]
    words = [
        "declared",
        "severity raised P2 → P1",
        "escalated to level 1",
        "escalated to level 2",
        "acknowledged",
        "mitigated",
        "resolved: rolled back release 2026.11.3",
    ]
    found = [timeline.find(w) for w in words]
    assert all(i >= 0 for i in found), dict(zip(words, found, strict=True))
    assert found == sorted(found)
    times = re.findall(r"^- (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", timeline, flags=re.MULTILINE)
    assert times == sorted(times)
    assert len(times) >= len(words)
    assert all(path.exists() for path in result.rca_files)


async def test_breach_to_rca_over_real_processes(database_url: str, db: Database, tmp_path: Path) -> None:
    result = await run_story(StoryOptions(output=tmp_path, database_url=database_url, narrate=lambda _: None))
    _check_story(result)


async def test_page_and_escalation_survive_a_sigkill(database_url: str, db: Database, tmp_path: Path) -> None:
    lines: list[str] = []
    result = await run_story(
        StoryOptions(output=tmp_path, database_url=database_url, kill_after_page=True, narrate=lines.append)
    )
    assert result.restarts == 1
    assert any("SIGKILL" in line for line in lines)
    trigger = next(e for e in result.pagerduty_events if e["event_action"] == "trigger")
    killed_at = next(i for i, line in enumerate(lines) if "SIGKILL" in line)
    sent_at = next(i for i, line in enumerate(lines) if "PagerDuty fake received trigger" in line)
    assert sent_at > killed_at, "the page left before the crash; the test proves nothing"
    assert trigger["payload"]["severity"] == "error"
    _check_story(result)

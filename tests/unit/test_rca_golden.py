"""The RCA templates over a fixed, scripted incident, compared byte for byte with golden files.

Any change of wording, order or layout in what a postmortem author starts from shows up as a diff
of tests/fixtures/rca/golden-default.md (or golden-short.md) in review. After an intended change,
regenerate them with

    INCIDENTD_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_rca_golden.py

and read the diff before committing it.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from service.domain.action_items import ActionItem, ItemStatus
from service.domain.incidents import Incident, Status, TimelineEvent
from service.domain.rca import build_facts, facts_context
from service.domain.rca_review import SlackThread
from service.domain.rca_templates import DEFAULT_TEMPLATE, SHORT_TEMPLATE
from service.domain.severity import Severity
from service.rca.templates import MarkdownTemplates

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "rca" / "golden-default.md"
GOLDEN_SHORT = ROOT / "tests" / "fixtures" / "rca" / "golden-short.md"
T0 = datetime(2026, 11, 24, 3, 2, tzinfo=UTC)
RULE = {
    "rule": "ErrorRateHigh",
    "rule_title": "Error rate high on checkout",
    "unit": "percent",
    "warning_threshold": 0.03,
    "critical_threshold": 0.10,
    "runbook": "https://runbooks.example/checkout-errors",
    "comparison": "above",
}


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def scripted() -> tuple[Incident, list[TimelineEvent], list[ActionItem], dict[str, Any]]:
    incident = Incident(
        id=7, dedup_key='rules:{alertname="ErrorRateHigh",service="checkout"}',
        title="Error rate high on checkout", description="Checkout API returns 5xx <b>for</b> card payments",
        severity=Severity.P1, status=Status.RESOLVED, labels={"service": "checkout", "team": "payments"},
        assignee="@alice", created_by="rules", source="rules", created_at=T0, updated_at=_at(52),
        acknowledged_at=_at(6), mitigated_at=_at(31), resolved_at=_at(52),
    )  # fmt: skip
    rows: list[tuple[float, str, str, str, dict[str, Any]]] = [
        (0, "declared", "rules", "rules", {**RULE, "title": "Error rate high on checkout", "severity": "P2",
            "value": 0.052, "value_text": "5.2%", "threshold": 0.03, "threshold_text": "3%",
            "level": "warning", "breach_since": (T0 - timedelta(minutes=1)).isoformat()}),
        (0, "notification_sent", "notifications", "system",
            {"channel": "pagerduty", "kind": "trigger", "target": "default"}),
        (0.1, "notification_sent", "notifications", "system",
            {"channel": "slack", "kind": "post", "target": "#alerts"}),
        (4, "attached", "rules", "rules", {**RULE, "value": 0.151, "value_text": "15.1%", "threshold": 0.10,
            "threshold_text": "10%", "level": "critical", "severity": "P1"}),
        (4, "severity_raised", "rules", "rules", {**RULE, "from": "P2", "to": "P1", "value": 0.151,
            "value_text": "15.1%", "threshold": 0.10, "threshold_text": "10%", "level": "critical",
            "reason": "critical for 1m"}),
        (5, "escalated", "escalation", "escalation", {"level": 1, "level_name": "On-call engineer",
            "reason": "ack_timeout", "targets": {"slack_usergroups": ["oncall"]}}),
        (6, "acknowledged", "@alice (U0ALICE)", "slack", {}),
        (9, "note", "@alice (U0ALICE)", "slack",
            {"text": "release 2026.11.3 went out at 02:58 *bold* <!here>"}),
        (31, "alert_cleared", "rules", "rules", {**RULE, "value": 0.004, "value_text": "0.4%",
            "series_count": 1}),
        (31, "mitigated", "rules", "rules", {"reason": "alert cleared"}),
        (52, "resolved", "@alice (U0ALICE)", "slack", {"note": "rolled back release 2026.11.3"}),
    ]  # fmt: skip
    events = [
        TimelineEvent(id=i + 1, incident_id=7, at=_at(m), kind=k, actor=a, source=s, data=d)
        for i, (m, k, a, s, d) in enumerate(rows)
    ]
    items = [
        ActionItem(id=3, incident_id=7, human_id="INC-7", title="Canary error-rate gate for checkout",
                   owner="@bob", due_on=date(2026, 11, 26), status=ItemStatus.OPEN,
                   link="https://tracker.example/OPS-12", created_by="alice", created_at=_at(60),
                   updated_at=_at(60)),
        ActionItem(id=4, incident_id=7, human_id="INC-7", title="Page on 5xx | [link](javascript:x)",
                   owner="", due_on=date(2026, 11, 26), status=ItemStatus.DONE, link="", created_by="alice",
                   created_at=_at(61), updated_at=_at(70), closed_at=_at(70)),
    ]  # fmt: skip
    readings = ((-2, 0.02), (-1, 0.045), (2, 0.07), (4, 0.151), (20, 0.12), (31, 0.004), (40, 0.003))
    samples = {"ErrorRateHigh": [(_at(m), v) for m, v in readings]}
    return incident, events, items, samples


def render_golden(template: str = DEFAULT_TEMPLATE) -> str:
    incident, events, items, samples = scripted()
    facts = build_facts(
        incident,
        events,
        chart_url="/api/v1/incidents/7/rca/chart.svg",
        now=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
        incident_url="https://incidentd.example/incidents/7",
        slack_threads=[SlackThread("#alerts", "https://acme.slack.com/archives/C0ALERTS/p1764000000000100")],
        action_items=items,
        samples=samples,
    )
    return MarkdownTemplates(ROOT / "incident_templates").render(template, facts_context(facts))


def test_default_rca_matches_the_golden_file_byte_for_byte() -> None:
    rendered = render_golden()
    if os.environ.get("INCIDENTD_REGENERATE_GOLDEN") == "1":
        GOLDEN.write_bytes(rendered.encode("utf-8"))
    expected = GOLDEN.read_bytes().decode("utf-8")
    assert rendered == expected, (
        "the default RCA changed; if intended, regenerate with INCIDENTD_REGENERATE_GOLDEN=1, read the diff"
    )


def test_short_rca_matches_its_golden_file_and_lists_the_action_items() -> None:
    rendered = render_golden(SHORT_TEMPLATE)
    if os.environ.get("INCIDENTD_REGENERATE_GOLDEN") == "1":
        GOLDEN_SHORT.write_bytes(rendered.encode("utf-8"))
    assert rendered == GOLDEN_SHORT.read_bytes().decode("utf-8"), (
        "the short RCA changed; if intended, regenerate with INCIDENTD_REGENERATE_GOLDEN=1, read the diff"
    )
    section = rendered[rendered.index("<!-- incidentd:begin action_items -->") :]
    section = section[: section.index("<!-- incidentd:end action_items -->")]
    assert (
        "| AI-3 | [Canary error-rate gate for checkout](https://tracker.example/OPS-12) | @bob |"
        " 2026-11-26 (overdue) | open |" in section
    )
    assert "| AI-4 | Page on 5xx \\| \\[link\\](javascript:x) | — | 2026-11-26 | done |" in section, "escaped"

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.domain.incidents import Incident, Status, TimelineEvent
from service.domain.rca import build_facts
from service.domain.rca_chart import number
from service.domain.rca_markdown import (
    document_problem,
    escape_inline,
    merge,
    scan,
    section_contents,
    structure_problems,
    unified_diff,
)
from service.domain.rca_templates import DEFAULT_TEMPLATE, SHORT_TEMPLATE, TemplatePolicy
from service.domain.severity import Severity

T0 = datetime(2026, 3, 4, 22, 50, 5, tzinfo=UTC)


def incident(**changes: Any) -> Incident:
    fields: dict[str, Any] = {
        "id": 42,
        "dedup_key": "api-errors",
        "title": "API error rate",
        "description": "",
        "severity": Severity.P1,
        "status": Status.RESOLVED,
        "labels": {"service": "api"},
        "assignee": None,
        "created_by": "rules",
        "source": "rules",
        "created_at": T0,
        "updated_at": T0,
        "resolved_at": T0 + timedelta(hours=1, minutes=25, seconds=30),
    }
    fields.update(changes)
    return Incident(**fields)


def event(
    event_id: int, minutes: float, kind: str, actor: str = "alice", source: str = "api", **data: Any
) -> TimelineEvent:
    return TimelineEvent(
        id=event_id,
        incident_id=42,
        at=T0 + timedelta(minutes=minutes),
        kind=kind,
        actor=actor,
        source=source,
        data=data,
    )


EVENTS = [
    event(1, 0, "declared", "rules", "rules", title="API error rate", severity="P2", rule="api_errors",
          value=7.5, threshold=5, runbook="https://runbooks/api"),
    event(2, 3, "severity_raised", "rules", "rules", **{"from": "P2", "to": "P1"}, reason="above 10%",
          rule="api_errors", value="12.5", threshold="5"),
    event(3, 4, "notification_sent", "notifier", "pagerduty", status="accepted", channel="pagerduty"),
    event(4, 5, "acknowledged", "U123", "slack", **{"from": "triggered", "to": "acknowledged"}),
    event(5, 9, "note", text="rolling back deploy 42"),
    event(6, 70, "mitigated", note="rollback done"),
    event(7, 85.5, "resolved", "PXYZ", "pagerduty"),
]  # fmt: skip
NOW = T0 + timedelta(hours=3)


def facts_for(inc: Incident | None = None, events: list[TimelineEvent] | None = None) -> Any:
    return build_facts(inc or incident(), EVENTS if events is None else events, chart_url="/c.svg", now=NOW)


def test_timeline_keeps_order_real_times_and_who() -> None:
    shuffled = [EVENTS[3], EVENTS[0], EVENTS[6], EVENTS[1], EVENTS[5], EVENTS[2], EVENTS[4]]
    facts = facts_for(events=shuffled)
    assert [line.kind for line in facts.timeline] == [e.kind for e in EVENTS]
    assert [(line.date, line.time) for line in facts.timeline] == [
        ("2026-03-04", "22:50:05"),
        ("2026-03-04", "22:53:05"),
        ("2026-03-04", "22:54:05"),
        ("2026-03-04", "22:55:05"),
        ("2026-03-04", "22:59:05"),
        ("2026-03-05", "00:00:05"),
        ("2026-03-05", "00:15:35"),
    ]
    ack = facts.timeline[3]
    assert (ack.actor, ack.source, ack.summary) == ("U123", "slack", "acknowledged")
    assert (
        facts.timeline[1].summary
        == "severity raised P2 → P1: above 10% [value 12.5, threshold 5, rule api_errors]"
    )
    assert facts.timeline[4].summary == "note: rolling back deploy 42"
    assert facts.timeline[5].summary == "mitigated: rollback done"


def test_times_are_shown_in_utc_whatever_the_input_zone() -> None:
    plus_two = TimelineEvent(
        id=1, incident_id=42, at=datetime(2026, 3, 5, 1, 0, tzinfo=UTC).astimezone(), kind="note",
        actor="a", source="api", data={"text": "x"},
    )  # fmt: skip
    line = facts_for(events=[plus_two]).timeline[0]
    assert (line.date, line.time) == ("2026-03-05", "01:00:00")


def test_duration_resolved_and_ongoing() -> None:
    assert facts_for().duration == "1h 25m"
    assert facts_for().ongoing is False
    open_facts = facts_for(incident(status=Status.ACKNOWLEDGED, resolved_at=None))
    assert open_facts.ongoing is True
    assert open_facts.duration == "ongoing (3h so far)"
    assert open_facts.ended == ""


def test_review_deadlines_follow_resolution() -> None:
    facts = facts_for()
    assert facts.draft_due == "2026-03-06 00:15:35 UTC"
    assert facts.complete_due == "2026-03-07 00:15:35 UTC"


def test_severity_history_starts_at_declared_level() -> None:
    steps = facts_for().severity_history
    assert [(s.change, s.previous, s.severity, s.reason) for s in steps] == [
        ("declared", "", "P2", ""),
        ("raised", "P2", "P1", "above 10%"),
    ]
    assert facts_for().initial_severity == "P2"


def test_alert_values_are_shown_when_present_and_tolerated_when_odd() -> None:
    odd = [
        event(1, 0, "declared", "rules", "rules", title="t", severity="P1", value={"nested": 1}, rule=None),
        event(2, 1, "alert_value", "rules", "rules", metric="latency_p95", value=True, runbook="rb"),
    ]
    values = facts_for(events=odd).values
    assert [(v.rule, v.metric, v.value, v.runbook) for v in values] == [("", "latency_p95", "yes", "rb")]
    full = facts_for().values
    assert [(v.time, v.rule, v.value, v.threshold) for v in full] == [
        ("22:50:05", "api_errors", "7.5", "5"),
        ("22:53:05", "api_errors", "12.5", "5"),
    ]
    assert full[0].runbook == "https://runbooks/api"


def test_trail_holds_pagerduty_and_slack_activity() -> None:
    trail = facts_for().trail
    assert [(t.channel, t.kind, t.actor) for t in trail] == [
        ("PagerDuty", "notification_sent", "notifier"),
        ("Slack", "acknowledged", "U123"),
        ("PagerDuty", "resolved", "PXYZ"),
    ]
    assert "status=accepted" in trail[0].summary


def test_chart_draws_every_rule_and_shades_only_the_open_time() -> None:
    other = event(
        8, 20, "attached", "rules", "rules", rule="disk_full", value=99, threshold=90, level="critical"
    )
    facts = facts_for(events=[*EVENTS, other])
    assert facts.has_chart
    errors, disk = facts.chart.panels
    assert [p.value for p in errors.points] == [7.5, 12.5]
    assert (errors.name, disk.name) == ("api_errors", "disk_full")
    assert [(line.level, line.value) for line in disk.lines] == [("critical", 90.0)]
    assert facts.chart.open_intervals == ((T0, T0 + timedelta(minutes=70)),), "not while mitigated"
    assert facts.chart.end == T0 + timedelta(hours=1, minutes=25, seconds=30)
    assert facts_for(events=[EVENTS[4]]).has_chart is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(3, 3.0), ("4.5", 4.5), (" 2 ", 2.0), (True, None), ("abc", None), (float("nan"), None), (None, None)],
)
def test_number_is_tolerant_but_strict_about_finiteness(raw: object, expected: float | None) -> None:
    assert number(raw) == expected


def test_template_policy_prefers_service_then_severity() -> None:
    policy = TemplatePolicy(by_service={"payments": "payments.md.j2"})
    assert policy.choose(incident(severity=Severity.P0)) == DEFAULT_TEMPLATE
    assert policy.choose(incident(severity=Severity.P3)) == SHORT_TEMPLATE
    assert policy.choose(incident(severity=Severity.P3, labels={"service": "payments"})) == "payments.md.j2"
    assert "payments.md.j2" in policy.names()


def test_template_policy_from_policy_file_spelling() -> None:
    policy = TemplatePolicy.from_config(
        by_severity={"p2": "rca-default.md.j2"}, by_service={"db": "db.md.j2"}
    )
    assert policy.choose(incident(severity=Severity.P2)) == DEFAULT_TEMPLATE
    assert policy.choose(incident(severity=Severity.P3)) == SHORT_TEMPLATE
    assert policy.choose(incident(labels={"service": "db"})) == "db.md.j2"
    with pytest.raises(ValueError, match="unknown severity"):
        TemplatePolicy.from_config(by_severity={"P9": "x"})


# --- escaping ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("error_rate_total", "error_rate_total"),
        ("_emph_ and *bold*", "\\_emph\\_ and \\*bold\\*"),
        ("<script>alert(1)</script>", "\\<script\\>alert(1)\\</script\\>"),
        ("[x](javascript:alert(1))", "\\[x\\](javascript:alert(1))"),
        ("a | b", "a \\| b"),
        ("two\nlines\r\nhere", "two lines here"),
        ("# not a heading", "\\# not a heading"),
        ("1. not a list", "1\\. not a list"),
        ("12.5", "12.5"),
        ("`code` & ~x~", "\\`code\\` \\& \\~x\\~"),
        ("bell\x07 nul\x00", "bell nul"),
    ],
)
def test_escape_inline(raw: str, escaped: str) -> None:
    assert escape_inline(raw) == escaped


def test_escaped_value_cannot_forge_a_marker() -> None:
    forged = "x\n<!-- incidentd:end timeline -->\n<!-- incidentd:begin timeline -->"
    document = (
        f"<!-- incidentd:begin timeline -->\n- {escape_inline(forged)}\n<!-- incidentd:end timeline -->\n"
    )
    sections, strays = scan(document)
    assert [s.name for s in sections] == ["timeline"]
    assert strays == []
    assert escape_inline(forged) in section_contents(document)["timeline"]


# --- sections and merge -----------------------------------------------------------------------------

CURRENT = (
    "# RCA INC-42  \r\n"
    "<!-- incidentd:begin timeline -->\n"
    "- 00:00 old line\n"
    "<!-- incidentd:end timeline -->\n"
    "\n"
    "### Root Cause\r\n"
    "The cache   stampede (see `redis`) — «ünïcode» 🙂\t\n"
    "\n"
    "<!-- incidentd:begin values -->\n"
    "old values, edited by a human\n"
    "<!-- incidentd:end values -->\n"
    "trailing text without newline"
)
FRESH = (
    "# whatever the template says now\n"
    "<!-- incidentd:begin timeline -->\n"
    "- 00:00 declared\n"
    "- 00:05 acknowledged\n"
    "<!-- incidentd:end timeline -->\n"
    "<!-- incidentd:begin values -->\n"
    "| v |\n"
    "<!-- incidentd:end values -->\n"
    "<!-- incidentd:begin chart -->\nchart\n<!-- incidentd:end chart -->\n"
)


def _outside(text: str) -> list[str]:
    sections, _ = scan(text)
    pieces, position = [], 0
    for section in sections:
        pieces.append(text[position : section.content_start])
        position = section.content_end
    pieces.append(text[position:])
    return pieces


def test_merge_replaces_machine_sections_and_keeps_every_other_byte() -> None:
    result = merge(CURRENT, FRESH)
    assert result.replaced == ("timeline", "values")
    assert result.not_in_document == ("chart",)  # the author's document never had it: not re-inserted
    assert _outside(result.text) == _outside(CURRENT)
    assert section_contents(result.text)["timeline"] == "\n- 00:00 declared\n- 00:05 acknowledged\n"
    assert "edited by a human" not in result.text  # edits inside a machine section are overwritten
    assert result.text.encode() == (
        CURRENT.replace("- 00:00 old line\n", "- 00:00 declared\n- 00:05 acknowledged\n")
        .replace("old values, edited by a human\n", "| v |\n")
        .encode()
    )
    assert merge(result.text, FRESH).text == result.text


def test_deleted_markers_are_respected() -> None:
    taken_over = CURRENT.replace("<!-- incidentd:begin values -->\n", "").replace(
        "<!-- incidentd:end values -->\n", ""
    )
    result = merge(taken_over, FRESH)
    assert "old values, edited by a human\n" in result.text
    assert "| v |" not in result.text
    assert result.replaced == ("timeline",)


def test_sections_the_template_no_longer_makes_are_left_alone() -> None:
    legacy = "<!-- incidentd:begin legacy -->\nold stuff\n<!-- incidentd:end legacy -->\n" + CURRENT
    result = merge(legacy, FRESH)
    assert result.text.startswith(
        "<!-- incidentd:begin legacy -->\nold stuff\n<!-- incidentd:end legacy -->\n"
    )
    assert result.replaced == ("timeline", "values")


def test_a_copied_section_is_refreshed_in_both_places() -> None:
    twice = CURRENT + "\n<!-- incidentd:begin timeline -->\ncopy\n<!-- incidentd:end timeline -->\n"
    result = merge(twice, FRESH)
    assert result.replaced == ("timeline", "values", "timeline")
    assert result.text.count("- 00:05 acknowledged\n") == 2


def test_unpaired_or_mismatched_markers_are_plain_text() -> None:
    broken = (
        "<!-- incidentd:begin timeline -->\nhuman 1\n"
        "<!-- incidentd:end values -->\nhuman 2\n"
        "<!-- incidentd:begin values -->\nold\n<!-- incidentd:end values -->\n"
    )
    sections, strays = scan(broken)
    assert [s.name for s in sections] == ["values"]
    assert len(strays) == 2
    assert "line 1" in strays[0]
    result = merge(broken, FRESH)
    assert result.text == broken.replace("\nold\n", "\n| v |\n")


def test_markers_tolerate_editor_whitespace_but_must_own_their_line() -> None:
    spaced = "  <!--incidentd:begin   timeline-->  \nold\n<!--  incidentd:end timeline  -->\n"
    assert merge(spaced, FRESH).text.startswith("  <!--incidentd:begin   timeline-->  \n- 00:00 declared")
    inline = "text <!-- incidentd:begin timeline -->\nold\n<!-- incidentd:end timeline -->\n"
    assert merge(inline, FRESH).text == inline


def test_structure_problems_catch_bad_templates() -> None:
    assert structure_problems(FRESH) == []
    assert structure_problems(FRESH + FRESH) == [
        "section 'timeline' appears twice",
        "section 'values' appears twice",
        "section 'chart' appears twice",
    ]
    assert "no matching partner" in structure_problems("<!-- incidentd:begin x -->\n")[0]


def test_unified_diff_shows_exact_changes() -> None:
    old = "a\nb\nc"
    new = "a\nB\nc\n"
    diff = unified_diff(old, new, old_label="v1", new_label="v2")
    assert diff.splitlines() == [
        "--- v1",
        "+++ v2",
        "@@ -1,3 +1,3 @@",
        " a",
        "-b",
        "-c",
        "\\ No newline at end of file",
        "+B",
        "+c",
    ]
    assert unified_diff(old, old, old_label="v1", new_label="v1") == ""
    crlf = unified_diff("x\r\n", "x\n", old_label="a", new_label="b")
    assert "-x\r\n" in crlf
    assert "+x\n" in crlf


def test_document_problem() -> None:
    assert document_problem("fine") is None
    assert document_problem("bad\x00") == "markdown contains a NUL character"
    assert document_problem("x" * 500_001) is not None


def test_machine_events_read_as_sentences_with_values_in_their_units() -> None:
    events = [
        event(
            1,
            0,
            "declared",
            "rules",
            "rules",
            title="5xx",
            severity="P2",
            rule="ErrorRateHigh",
            value=0.0512,
            threshold=0.03,
            value_text="5.12%",
            threshold_text="3%",
        ),
        event(
            2,
            8,
            "escalated",
            "escalation",
            "escalation",
            level=2,
            level_name="Technical lead",
            reason="ack_timeout",
            targets={"pagerduty": ["tech-lead"], "slack_users": ["@lead"]},
        ),
        TimelineEvent(
            id=3,
            incident_id=42,
            at=T0 + timedelta(minutes=9),
            kind="notification_sent",
            actor="notifications",
            source="system",
            data={"channel": "slack", "kind": "update", "target": "#alerts", "outbox_id": 7},
        ),
    ]
    facts = build_facts(incident(), events, chart_url="/c.svg", now=NOW)
    lines = [line.summary for line in facts.timeline]
    assert lines[0].endswith(": ErrorRateHigh fired [value 5.12%, threshold 3%]")
    assert lines[1] == "escalated to level 2 Technical lead (ack timeout) (tech-lead, @lead)"
    assert lines[2] == "slack update sent to #alerts"
    assert [(v.value, v.threshold) for v in facts.values] == [("5.12%", "3%")]

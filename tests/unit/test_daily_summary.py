"""The daily summary: what it says, and that outside text stays inert in text, HTML and Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slack_sdk.models.blocks import Block

from service.domain.daily_summary import (
    NO_FOLLOWUPS,
    FollowUp,
    RcaState,
    RuleNoise,
    SummaryFacts,
    SummaryIncident,
    compose,
)
from service.domain.escalation_policy import RcaTimers
from service.domain.severity import Severity
from service.reports.email_parts import html_part, subject, text_part
from service.reports.slack_digest import SECTION_LIMIT, digest_blocks

END = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TIMERS = RcaTimers(
    severities=frozenset({Severity.P0, Severity.P1}),
    draft_within=timedelta(hours=24),
    final_within=timedelta(hours=48),
    remind_before=(),
)
URL = "https://incidents.example.com"
HOSTILE = "DB <down> & *bold* <!channel> <script>alert(1)</script>"


def incident(
    id: int, severity: Severity, opened_h: float, ack_m: float | None, resolve_m: float | None, **kw: object
) -> SummaryIncident:
    created = END - timedelta(hours=opened_h)
    return SummaryIncident(
        id=id,
        title=str(kw.get("title", f"incident {id}")),
        severity=severity,
        status=str(kw.get("status", "resolved" if resolve_m is not None else "triggered")),
        service="checkout",
        holder=kw.get("holder"),  # type: ignore[arg-type]
        created_at=created,
        acknowledged_at=created + timedelta(minutes=ack_m) if ack_m is not None else None,
        resolved_at=created + timedelta(minutes=resolve_m) if resolve_m is not None else None,
    )


def facts(**kw: object) -> SummaryFacts:
    base: dict[str, object] = {
        "end": END,
        "incidents": [],
        "still_open": [],
        "pages": 0,
        "pages_by_target": [],
        "rules": [],
        "rcas": [],
        "followups": None,
    }
    return SummaryFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_opened_by_severity_with_links_and_timings() -> None:
    items = [
        incident(1, Severity.P1, 5, 2, 30),
        incident(2, Severity.P1, 4, 10, 90),
        incident(3, Severity.P1, 3, 4, None, holder="alice", status="acknowledged"),
        incident(4, Severity.P3, 30, None, None),  # opened before the window: not "opened"
    ]
    summary = compose(facts(incidents=items, still_open=[items[2], items[3]]), TIMERS, URL)
    opened = dict(summary.opened)
    assert [line.human_id for line in opened["P1"]] == ["INC-1", "INC-2", "INC-3"]
    assert opened["P3"] == []
    assert opened["P0"] == []
    assert opened["P1"][0].url == f"{URL}/incidents/1"
    p1 = next(t for t in summary.timings if t.severity == "P1")
    assert (p1.acknowledged, p1.ack_median, p1.ack_worst) == (3, "4m", "10m")
    assert (p1.resolved, p1.resolve_median, p1.resolve_worst) == (2, "1h", "1h 30m")
    holders = {line.human_id: line.detail for line in summary.still_open}
    assert "held by alice" in holders["INC-3"]
    assert "nobody has it" in holders["INC-4"]


def test_rca_deadlines_24h_draft_48h_final() -> None:
    rcas = [
        RcaState(
            id=1,
            title="a",
            severity=Severity.P1,
            resolved_at=END - timedelta(hours=30),
            edited_by_person=False,
        ),
        RcaState(
            id=2,
            title="b",
            severity=Severity.P0,
            resolved_at=END - timedelta(hours=20),
            edited_by_person=False,
        ),
        RcaState(
            id=3,
            title="c",
            severity=Severity.P1,
            resolved_at=END - timedelta(hours=30),
            edited_by_person=True,
        ),
        RcaState(
            id=4,
            title="d",
            severity=Severity.P1,
            resolved_at=END - timedelta(hours=50),
            edited_by_person=True,
        ),
        RcaState(
            id=5,
            title="e",
            severity=Severity.P2,
            resolved_at=END - timedelta(hours=50),
            edited_by_person=False,
        ),
    ]
    lines = {line.human_id: line.detail for line in compose(facts(rcas=rcas), TIMERS, URL).rcas}
    assert lines["INC-1"].startswith("draft overdue by 6h")
    assert lines["INC-2"].startswith("draft due in 4h")
    assert lines["INC-3"].startswith("final due in 18h")
    assert lines["INC-4"].startswith("final overdue by 2h")
    assert "no completion is recorded" in lines["INC-4"]
    assert "INC-5" not in lines  # P2 needs no RCA by the policy


def test_followups_hook_says_when_there_is_no_data() -> None:
    assert compose(facts(), TIMERS, URL).followups_note == NO_FOLLOWUPS
    assert NO_FOLLOWUPS in text_part(compose(facts(), TIMERS, URL))
    summary = compose(facts(followups=[]), TIMERS, URL)
    assert summary.followups_note is None
    assert summary.followups == []


def test_followups_due_today_and_overdue_with_owner_due_day_and_console_link() -> None:
    day = END.date()
    due = [
        FollowUp(ref="AI-3", incident_id=7, owner="bob", due_on=day, text="Add an index"),
        FollowUp(
            ref="AI-1", incident_id=5, owner="", due_on=day - timedelta(days=3), text="Write the runbook"
        ),
        FollowUp(
            ref="AI-2", incident_id=5, owner="carol", due_on=day - timedelta(days=1), text="Alert on lag"
        ),
        FollowUp(ref="AI-4", incident_id=7, owner="bob", due_on=day + timedelta(days=1), text="Not yet"),
    ]
    summary = compose(facts(followups=due), TIMERS, URL)
    assert [(f.human_id, f.title, f.detail) for f in summary.followups] == [
        ("INC-5", "AI-1 Write the runbook", "no owner, due 2026-11-28, overdue by 3 days"),
        ("INC-5", "AI-2 Alert on lag", "carol, due 2026-11-30, overdue by 1 day"),
        ("INC-7", "AI-3 Add an index", "bob, due today (2026-12-01)"),
    ]
    assert summary.followups[0].url == f"{URL}/incidents/5#live-action-items"
    assert "AI-2 Alert on lag: carol, due 2026-11-30, overdue by 1 day" in text_part(summary)
    _, blocks = digest_blocks(summary, URL)
    followups = blocks[-1]["text"]["text"]
    assert followups.startswith("*Follow-ups due*\n")
    assert f"<{URL}/incidents/7#live-action-items|INC-7>" in followups
    assert "Not yet" not in followups


def test_noisiest_rules_rank_incidents_and_flaps() -> None:
    rules = [RuleNoise(rule=f"r{i}", incidents=i, flaps=10 - i) for i in range(10)]
    summary = compose(facts(rules=rules), TIMERS, URL)
    assert [r.rule for r in summary.most_incidents] == ["r9", "r8", "r7", "r6", "r5"]
    assert [r.rule for r in summary.most_flaps] == ["r0", "r1", "r2", "r3", "r4"]


def test_outside_text_is_escaped_everywhere() -> None:
    hostile = incident(1, Severity.P0, 1, None, None, title=HOSTILE, holder="<@U123>")
    rules = [RuleNoise(rule="<!here> *x*", incidents=1, flaps=1)]
    summary = compose(
        facts(incidents=[hostile], still_open=[hostile], rules=rules, pages=1, pages_by_target=[("<x>", 1)]),
        TIMERS,
        URL,
    )
    html = html_part(summary)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;!channel&gt;" in html
    text, blocks = digest_blocks(summary, URL)
    body = text + " ".join(str(b) for b in blocks)
    assert "<!channel>" not in body
    assert "<!here>" not in body
    assert "<@U123>" not in body
    assert "*bold*" not in body
    assert f"<{URL}/incidents/1|INC-1>" in body  # our own links stay links
    for block in blocks:
        assert Block.parse(block) is not None
    assert "INC-1" in subject(summary) or "1 opened" in subject(summary)


def test_slack_digest_stays_within_limits() -> None:
    many = [incident(i, Severity.P2, 1, None, None, title="x" * 300) for i in range(1, 400)]
    summary = compose(facts(incidents=many, still_open=many), TIMERS, URL)
    text, blocks = digest_blocks(summary, URL)
    assert len(blocks) <= 50
    assert len(text) <= 3000
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_LIMIT
    assert "more in the console" in blocks[2]["text"]["text"]
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]

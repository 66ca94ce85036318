from __future__ import annotations

import io
import textwrap
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from service.config.escalation_policy_files import load_escalation_policy
from service.domain.escalation_calendar import BusinessCalendar
from service.domain.escalation_schedule import StepKind, first_rung, level_above, next_rung, rca_reminders
from service.domain.severity import Severity
from service.rules_cli import rules_check

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "rules" / "policy" / "escalation.yaml"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday

CALENDAR = BusinessCalendar(
    timezone="Europe/Berlin",
    weekdays=frozenset(range(5)),
    start=time(9),
    end=time(17),
    holidays=frozenset({date(2026, 3, 4)}),
)


def test_business_hours_skip_nights_weekends_holidays_and_follow_the_timezone() -> None:
    # Monday 08:00 UTC is 09:00 in Berlin (CET): the day has just opened.
    assert CALENDAR.add(T0, timedelta(hours=4)) == T0 + timedelta(hours=4)
    # 10 h from Monday 09:00 local: 8 h Monday, then Tuesday 09:00 + 2 h local.
    assert CALENDAR.add(T0, timedelta(hours=10)) == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    # Tuesday 16:00 local + 2 h: Wednesday is a holiday, so Thursday 10:00 local.
    assert CALENDAR.add(datetime(2026, 3, 3, 15, 0, tzinfo=UTC), timedelta(hours=2)) == datetime(
        2026, 3, 5, 9, 0, tzinfo=UTC
    )
    # Friday 16:00 local + 4 h lands on Monday; after the DST change (29 March) 09:00 local is 07:00 UTC.
    friday = datetime(2026, 3, 27, 15, 0, tzinfo=UTC)
    assert CALENDAR.add(friday, timedelta(hours=4)) == datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    assert not CALENDAR.is_open(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))


def test_shipped_policy_matches_the_seeds() -> None:
    policy, problems = load_escalation_policy(SHIPPED)
    assert problems == []
    assert policy is not None
    assert [policy.rule(s).ack_within for s in Severity] == [
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=4),
    ]
    ladder = policy.ladder_for({"service": "api"})
    assert [(lv.name, lv.respond_within) for lv in ladder.levels] == [
        ("On-call engineer", timedelta(minutes=15)),
        ("Technical lead", timedelta(minutes=30)),
        ("Engineering manager", timedelta(hours=1)),
        ("CTO/VP Engineering", timedelta(hours=2)),
    ]
    assert policy.ladder_for({"service": "payments", "team": "x"}).name == "payments"
    assert [policy.rule(s).pagerduty for s in Severity] == [True, True, False, False]


def test_ladder_schedule_is_pure_arithmetic() -> None:
    policy, _ = load_escalation_policy(SHIPPED)
    assert policy is not None
    ladder = policy.ladder_for({})
    first = first_rung(policy, Severity.P0, T0)
    assert (first.kind, first.level, first.due_at) == (StepKind.ESCALATE, 1, T0 + timedelta(minutes=5))
    after_top = next_rung(policy, ladder, Severity.P0, 4, 3, T0)
    assert (after_top.kind, after_top.due_at) == (StepKind.EXHAUSTED, T0 + timedelta(hours=2))
    again = next_rung(policy, ladder, Severity.P0, 4, 1, T0)
    assert (again.kind, again.level, again.attempt) == (StepKind.ESCALATE, 4, 2)
    assert [level_above(ladder, n) for n in (0, 1, 2, 4)] == [2, 2, 3, 4]
    assert rca_reminders(policy, Severity.P2, T0) == []
    reminders = rca_reminders(policy, Severity.P1, T0)
    assert [(r.data["stage"], r.due_at - T0) for r in reminders] == [
        ("draft", timedelta(hours=20)),
        ("draft", timedelta(hours=24)),
        ("final", timedelta(hours=44)),
        ("final", timedelta(hours=48)),
    ]


BROKEN = """
severities:
  P0: {ack_within: 5m, expected_resolution: 1h, pagerduty: true}
  P1: {ack_within: soon, expected_resolution: 4h, pagerduty: true}
  P2: {ack_within: 1h, expected_resolution: 1d, pagerduty: false, busines_hours: true}
business_hours: {timezone: Mars/Olympus, weekdays: [mon, funday], hours: "17:00-09:00"}
policies:
  - name: payments
    match: {service: payments}
    repeat_last: 99
    levels:
      - name: L1
        respond_within: 15m
        targets: {pagerduty: ["has spaces"]}
      - name: L2
        respond_within: 30m
        targets: {}
"""


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "escalation.yaml"
    path.write_text(textwrap.dedent(BROKEN).lstrip("\n"), encoding="utf-8")
    policy, problems = load_escalation_policy(path, base=tmp_path)
    assert policy is None
    lines = [str(p) for p in problems]
    expected = [
        "escalation.yaml:1: severities: no entry for P3",
        "escalation.yaml:3: severities.P1.ack_within: bad duration 'soon'",
        "escalation.yaml:4: severities.P2.busines_hours: unknown field; did you mean 'business_hours'?",
        "escalation.yaml:5: business_hours.timezone: unknown timezone 'Mars/Olympus'",
        "escalation.yaml:5: business_hours.weekdays[1]: unknown weekday 'funday'",
        "escalation.yaml:5: business_hours.hours: the day must end after it starts",
        "escalation.yaml:6: policies: no default policy",
        "escalation.yaml:9: policies[0].repeat_last: expected 0..20, got 99",
        "escalation.yaml:13: policies[0].levels[0].targets.pagerduty[0]: expected a routing-key reference",
        "escalation.yaml:16: policies[0].levels[1].targets: a level needs at least one target",
    ]
    for want in expected:
        assert any(line.startswith(want) for line in lines), (want, lines)
    assert len(lines) == len(expected), lines


def test_rules_check_validates_the_escalation_policy(tmp_path: Path) -> None:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "escalation.yaml").write_text("severities: {}\npolicies: []\n", encoding="utf-8")
    out = io.StringIO()
    assert rules_check([tmp_path], out=out) == 1
    assert "escalation.yaml:1: severities: no entry for P0, P1, P2, P3" in out.getvalue()
    clean = io.StringIO()
    assert rules_check([ROOT / "rules"], out=clean) == 0, clean.getvalue()

"""reports.yaml: defaults, every problem as file:line: field, the recipients variable, and the schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from service.config.fields import PolicyError
from service.config.report_policy_files import load_report_policy
from service.domain.report_schedule import MAX_LATE, BusinessHours, DailySchedule

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_file_and_defaults() -> None:
    policy = load_report_policy(ROOT / "rules" / "policy" / "reports.yaml")
    assert policy.daily.at == time(8, 0)
    assert policy.daily.zone == "UTC"
    assert policy.daily.channels == ("email", "slack")
    assert policy.daily.slack_channels == ("#alerts",)
    assert policy.hours.days == (1, 2, 3, 4, 5)
    assert load_report_policy(ROOT / "nowhere.yaml").daily.at == time(8, 0)


def test_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "reports.yaml"
    path.write_text(
        "daily_summary:\n"
        "  time: 8:00\n"
        "  time_zone: Mars/Olympus\n"
        "  recipients: [ops@example.com, not-an-address]\n"
        "  channels: [email, pager]\n"
        "business_hours:\n"
        "  start: '18:00'\n"
        "  end: '09:00'\n"
        "  days: [mon, funday]\n"
    )
    with pytest.raises(PolicyError) as caught:
        load_report_policy(path)
    text = str(caught.value)
    for expected in (
        f"{path}:2: daily_summary.time: ",
        f"{path}:3: daily_summary.time_zone: unknown IANA time zone 'Mars/Olympus'",
        f"{path}:4: daily_summary.recipients: not an email address: 'not-an-address'",
        f"{path}:5: daily_summary.channels[1]: unknown channel 'pager'",
        f"{path}:8: business_hours.end: must be later than start",
        f"{path}:9: business_hours.days[1]: unknown day 'funday'",
    ):
        assert expected in text, text
    assert "quote it" in text


def test_recipients_variable_overrides(tmp_path: Path) -> None:
    path = tmp_path / "reports.yaml"
    path.write_text("daily_summary:\n  recipients: [a@example.com]\n")
    env = {"INCIDENTD_DAILY_SUMMARY_TO": "b@example.com, c@example.com"}
    assert load_report_policy(path, env).daily.recipients == ("b@example.com", "c@example.com")
    assert load_report_policy(path, {}).daily.recipients == ("a@example.com",)
    with pytest.raises(ValueError, match="INCIDENTD_DAILY_SUMMARY_TO: not an email address"):
        load_report_policy(path, {"INCIDENTD_DAILY_SUMMARY_TO": "b@example.com,bogus"})


def test_slot_due_in_a_time_zone_across_dst() -> None:
    schedule = DailySchedule(at=time(8, 0), zone="Europe/Paris")
    summer = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)  # 08:00 in Paris (UTC+2)
    assert schedule.slot_due(summer) == date(2026, 7, 1)
    assert schedule.slot_due(datetime(2026, 7, 1, 5, 59, tzinfo=UTC)) is None
    winter = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 08:00 in Paris (UTC+1)
    assert schedule.slot_due(winter) == date(2026, 12, 1)
    assert schedule.slot_due(winter + MAX_LATE) is None  # too late to be "this morning's" summary
    assert schedule.next_due(winter) == datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


def test_business_hours() -> None:
    hours = BusinessHours(zone="America/New_York", start=time(9), end=time(17))
    assert hours.within(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))  # Tuesday 10:00 in New York
    assert not hours.within(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))  # Monday 22:00
    assert not hours.within(datetime(2026, 12, 5, 15, 0, tzinfo=UTC))  # Saturday

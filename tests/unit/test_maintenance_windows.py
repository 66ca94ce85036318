"""Maintenance windows under a frozen clock: the shipped windows, "first Sunday", DST in Europe/Berlin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.config.silence_policy import load_inhibition, load_maintenance, load_silence_policy
from service.domain.maintenance_windows import OneOffWindow, open_windows, schedule
from service.domain.time_intervals import IntervalError, build_interval

ROOT = Path(__file__).resolve().parents[2]
BERLIN_NIGHT = build_interval(times=[("02:00", "04:00")], weekdays=["sunday"], location="Europe/Berlin")


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_shipped_windows_weekly_and_first_sunday() -> None:
    windows, problems = load_maintenance(ROOT / "rules/policy/maintenance.yaml")
    assert problems == []
    weekly, monthly = windows
    first_sunday = _utc(2026, 12, 6, 3, 0)  # Sunday 6 December is the month's first
    second_sunday = _utc(2026, 12, 13, 3, 0)
    assert weekly.open_at(first_sunday)
    assert weekly.open_at(second_sunday)
    assert monthly.open_at(first_sunday)
    assert not monthly.open_at(second_sunday)
    assert monthly.open_at(_utc(2026, 12, 6, 5, 59))
    assert not monthly.open_at(_utc(2026, 12, 6, 6, 0))
    assert not weekly.open_at(_utc(2026, 12, 6, 4, 0))
    assert not weekly.open_at(_utc(2026, 12, 7, 3, 0))  # Monday
    assert monthly.ends_at(first_sunday) == _utc(2026, 12, 6, 6, 0)
    assert monthly.next_start(_utc(2026, 12, 6, 7, 0)) == _utc(2027, 1, 3, 2, 0)  # 3 January 2027
    assert weekly.next_start(_utc(2026, 12, 1, 9, 0)) == _utc(2026, 12, 6, 2, 0)


def test_wall_clock_time_across_dst_in_berlin() -> None:
    # Summer time: 02:00-04:00 Berlin is 00:00-02:00 UTC.
    assert BERLIN_NIGHT.contains(_utc(2026, 7, 5, 0, 30))
    assert not BERLIN_NIGHT.contains(_utc(2026, 7, 5, 2, 30))
    # Winter time: 01:00-03:00 UTC.
    assert BERLIN_NIGHT.contains(_utc(2026, 1, 4, 2, 30))
    assert not BERLIN_NIGHT.contains(_utc(2026, 1, 4, 0, 30))
    # Spring forward, Sunday 29 March 2026: 02:00-03:00 does not exist, so the window is 03:00-04:00 CEST.
    assert not BERLIN_NIGHT.contains(_utc(2026, 3, 29, 0, 30))  # 01:30 CET
    assert BERLIN_NIGHT.contains(_utc(2026, 3, 29, 1, 0))  # 03:00 CEST
    assert not BERLIN_NIGHT.contains(_utc(2026, 3, 29, 2, 0))  # 04:00 CEST
    # Fall back, Sunday 25 October 2026: 02:00-03:00 happens twice, so the window lasts three hours.
    open_minutes = sum(
        BERLIN_NIGHT.contains(_utc(2026, 10, 24, 23, 0) + timedelta(minutes=m)) for m in range(0, 300)
    )
    assert open_minutes == 180
    start = BERLIN_NIGHT.next_start(_utc(2026, 3, 28, 12, 0))
    assert start == _utc(2026, 3, 29, 1, 0)


def test_negative_days_and_months() -> None:
    last_day = build_interval(days_of_month=["-1"], months=["february"])
    assert last_day.contains(_utc(2028, 2, 29, 12))  # leap year
    assert not last_day.contains(_utc(2028, 2, 28, 12))
    assert last_day.contains(_utc(2027, 2, 28, 12))


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"location": "Mars/Olympus"}, "location"),
        ({"times": [("04:00", "02:00")]}, "ends before it starts"),
        ({"times": [("25:00", "26:00")]}, "not a time of day"),
        ({"weekdays": ["funday"]}, "weekdays"),
        ({"days_of_month": ["40"]}, "outside"),
    ],
)
def test_bad_intervals(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(IntervalError, match=problem):
        build_interval(**kwargs)  # type: ignore[arg-type]


def test_bad_file_gives_file_line_problems(tmp_path: Path) -> None:
    path = tmp_path / "maintenance.yaml"
    path.write_text(
        "windows:\n"
        "  - name: nightly\n"
        "    owner: ops\n"
        "    matchers: ['service=~\"(\"']\n"
        "    time_intervals:\n"
        "      - weekdays: [funday]\n"
        "        location: Nowhere/Town\n"
        "  - name: nightly\n"
        "    owner: ops\n"
        "    descripton: typo\n"
        "    time_intervals: [{times: [{start_time: '02:00', end_time: '01:00'}]}]\n"
    )
    windows, problems = load_maintenance(path)
    assert windows == ()
    shown = [str(p) for p in problems]
    assert any(s.startswith(f"{path}:4: windows[0].matchers[0]: ") and "invalid regex" in s for s in shown)
    assert (
        f"{path}:7: windows[0].time_intervals[0].location: 'Nowhere/Town' is not an IANA time zone"
        in "\n".join(shown)
    )
    assert any(
        s.startswith(f"{path}:8: windows[1].name: 'nightly' is used by an earlier window") for s in shown
    )
    assert any(s.startswith(f"{path}:10: windows[1].descripton: unknown field") for s in shown), shown
    assert any(s.startswith(f"{path}:11: windows[1].time_intervals[0].times: ") for s in shown), shown


def test_inhibition_file_and_policy_load() -> None:
    rules, problems = load_inhibition(ROOT / "rules/policy/inhibition.yaml")
    assert problems == []
    assert [r.name for r in rules] == ["source-down", "critical-over-warning"]
    policy, problems = load_silence_policy(ROOT / "rules" / "policy")
    assert problems == []
    assert len(policy.windows) == 2


def test_one_off_windows_and_schedule() -> None:
    windows, _ = load_maintenance(ROOT / "rules/policy/maintenance.yaml")
    now = _utc(2026, 12, 6, 3, 0)
    ad_hoc = OneOffWindow(
        id="w1",
        name="db upgrade",
        matchers=(),
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=1),
        owner="alice",
    )
    names = sorted(w.name for w in open_windows(windows, [ad_hoc], now))
    assert names == ["db upgrade", "monthly-maintenance", "weekly-maintenance"]
    active, upcoming = schedule(windows, [ad_hoc], now)
    assert len(active) == 3
    assert upcoming[0].name == "weekly-maintenance"
    assert upcoming[0].starts_at == _utc(2026, 12, 13, 2, 0)


def test_incidentd_check_names_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from service.__main__ import _cmd_check
    from service.settings import load_settings

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "policy" / "maintenance.yaml").write_text(
        "windows:\n  - name: weekly\n    owner: ops\n    time_intervals:\n      - weekdays: [sundy]\n"
    )
    monkeypatch.chdir(tmp_path)
    env = {"INCIDENTD_RULES_DIR": str(rules), "INCIDENTD_TEMPLATES_DIR": str(ROOT / "incident_templates")}
    assert _cmd_check(load_settings(env)) == 1  # `incidentd check`, without re-configuring logging
    err = capsys.readouterr().err
    assert (
        "rules/policy/maintenance.yaml:5: windows[0].time_intervals[0].weekdays: 'sundy' is not one of" in err
    )

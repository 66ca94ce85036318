"""rules/policy/reports.yaml: when the daily summary goes out, to whom, and what counts as working hours.

`INCIDENTD_DAILY_SUMMARY_TO` (comma-separated addresses) replaces the file's recipients, so a deployment
can point the summary elsewhere without editing policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from service.config.fields import check, load_file
from service.config.yaml_lines import DataPath, Report
from service.domain.report_schedule import (
    CHANNELS,
    WEEKDAYS,
    BusinessHours,
    DailySchedule,
    ReportPolicy,
)

RECIPIENTS_VARIABLE = "INCIDENTD_DAILY_SUMMARY_TO"
_ADDRESS = re.compile(r"[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+")
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class _Daily(msgspec.Struct, forbid_unknown_fields=True):
    time: str | int = "08:00"
    time_zone: str = "UTC"
    recipients: list[str] = msgspec.field(default_factory=list)
    channels: list[str] = msgspec.field(default_factory=lambda: list(CHANNELS))
    slack_channels: list[str] = msgspec.field(default_factory=lambda: ["#alerts"])


class _Hours(msgspec.Struct, forbid_unknown_fields=True):
    time_zone: str = "UTC"
    start: str | int = "09:00"
    end: str | int = "18:00"
    days: list[str] = msgspec.field(default_factory=lambda: list(WEEKDAYS[:5]))


class _ReportsFile(msgspec.Struct, forbid_unknown_fields=True):
    daily_summary: _Daily = msgspec.field(default_factory=_Daily)
    business_hours: _Hours = msgspec.field(default_factory=_Hours)


def _time(raw: str | int, path: DataPath, report: Report) -> time:
    match = _TIME.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        hint = " (quote it: YAML reads 8:00 as a number)" if isinstance(raw, int) else ""
        report.error(path, f'expected a time of day such as "08:00"{hint}')
        return time(0, 0)
    return time(int(match.group(1)), int(match.group(2)))


def _zone(raw: str, path: DataPath, report: Report) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        report.error(path, f"unknown IANA time zone {raw!r} (e.g. UTC, Europe/Paris, America/New_York)")
        return "UTC"
    return raw


def addresses_problem(addresses: Sequence[str]) -> str | None:
    bad = [a for a in addresses if not _ADDRESS.fullmatch(a)]
    return f"not an email address: {', '.join(repr(b) for b in bad)}" if bad else None


def recipients_from_env(env: Mapping[str, str]) -> tuple[str, ...] | None:
    """The override's addresses, or None when it is unset; raises ValueError naming the variable."""
    raw = env.get(RECIPIENTS_VARIABLE, "").strip()
    if not raw:
        return None
    found = tuple(a.strip() for a in raw.split(",") if a.strip())
    problem = addresses_problem(found)
    if problem:
        raise ValueError(f"{RECIPIENTS_VARIABLE}: {problem}")
    return found


def load_report_policy(path: Path, env: Mapping[str, str] | None = None) -> ReportPolicy:
    """The file over the defaults (08:00 UTC, email and Slack #alerts, Monday-Friday 09:00-18:00 UTC);
    no file means the defaults. Raises PolicyError listing every problem, or ValueError for the variable."""
    override = recipients_from_env(env or {})
    if not path.exists():
        return ReportPolicy(daily=DailySchedule(recipients=override or ()))
    decoded, report = load_file(path, _ReportsFile)
    daily, hours = decoded.daily_summary, decoded.business_hours
    at = _time(daily.time, ("daily_summary", "time"), report)
    zone = _zone(daily.time_zone, ("daily_summary", "time_zone"), report)
    problem = addresses_problem(daily.recipients)
    if problem:
        report.error(("daily_summary", "recipients"), problem)
    for index, channel in enumerate(daily.channels):
        if channel not in CHANNELS:
            report.error(("daily_summary", "channels", index), f"unknown channel {channel!r}: email or slack")
    for index, name in enumerate(daily.slack_channels):
        if not name.strip() or any(c.isspace() for c in name):
            report.error(("daily_summary", "slack_channels", index), f"not a Slack channel: {name!r}")
    start = _time(hours.start, ("business_hours", "start"), report)
    end = _time(hours.end, ("business_hours", "end"), report)
    if end <= start:
        report.error(("business_hours", "end"), "must be later than start")
    days: list[int] = []
    for index, day in enumerate(hours.days):
        if day.lower() not in WEEKDAYS:
            report.error(
                ("business_hours", "days", index), f"unknown day {day!r}: one of {', '.join(WEEKDAYS)}"
            )
        else:
            days.append(WEEKDAYS.index(day.lower()) + 1)
    hours_zone = _zone(hours.time_zone, ("business_hours", "time_zone"), report)
    check(report)
    return ReportPolicy(
        daily=DailySchedule(
            at=at,
            zone=zone,
            recipients=override if override is not None else tuple(daily.recipients),
            channels=tuple(dict.fromkeys(daily.channels)),
            slack_channels=tuple(daily.slack_channels),
        ),
        hours=BusinessHours(zone=hours_zone, start=start, end=end, days=tuple(sorted(set(days)))),
    )

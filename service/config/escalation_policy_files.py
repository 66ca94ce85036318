"""Loading rules/policy/escalation.yaml; every problem comes back as `file:line: field: problem`.

The format is documented at the top of the shipped file. Everything wrong is
reported in one run (the way `incidentd rules check` does for rule packs), and
a policy that loads is complete: all four severities, exactly one default ladder.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from service.config import fields
from service.config.fields import PolicyError, Scalar, duration
from service.config.yaml_lines import DataPath, Problem, Report, decode, display_path, load_located
from service.domain.escalation_calendar import BusinessCalendar
from service.domain.escalation_policy import (
    EscalationPolicy,
    Ladder,
    Level,
    RcaTimers,
    SeverityRule,
    Targets,
)
from service.domain.severity import Severity

DEFAULT_ESCALATION_POLICY = Path("escalation.yaml")  # in the policy directory
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_REPEAT = 20


class _Targets(msgspec.Struct, kw_only=True):
    pagerduty: list[str] = msgspec.field(default_factory=list)
    slack_channels: list[str] = msgspec.field(default_factory=list)
    slack_users: list[str] = msgspec.field(default_factory=list)
    slack_usergroups: list[str] = msgspec.field(default_factory=list)


class _Level(msgspec.Struct, kw_only=True):
    name: str
    respond_within: Scalar
    targets: dict[str, Any]  # the fields of _Targets, and any other channel plug-in by name


# A problem with one target of a channel plug-in (None: fine); the plug-ins supply it at `check`.
TargetCheck = Callable[[str, str], str | None]
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class _Policy(msgspec.Struct, kw_only=True):
    name: str
    levels: list[_Level]
    match: dict[str, str] = msgspec.field(default_factory=dict)
    repeat_last: int = 0


class _Severity(msgspec.Struct, kw_only=True):
    ack_within: Scalar
    expected_resolution: Scalar
    pagerduty: bool
    slack: bool = True
    business_hours: bool = False


class _Calendar(msgspec.Struct, kw_only=True):
    timezone: str
    weekdays: list[str]
    hours: str
    holidays: list[str] = msgspec.field(default_factory=list)


class _Rca(msgspec.Struct, kw_only=True):
    severities: list[str]
    draft_within: Scalar
    final_within: Scalar
    remind_before: list[Scalar] = msgspec.field(default_factory=list)


class _File(msgspec.Struct, kw_only=True):
    severities: dict[str, Any]
    policies: list[_Policy]
    business_hours: _Calendar | None = None
    rca: _Rca | None = None


def _severities(raw: dict[str, Any], report: Report) -> dict[Severity, SeverityRule]:
    rules: dict[Severity, SeverityRule] = {}
    for key, value in raw.items():
        path: DataPath = ("severities", key)
        try:
            severity = Severity.parse(key)
        except ValueError as exc:
            report.error(path, str(exc))
            continue
        if severity in rules:
            report.error(path, f"{severity.label} is listed twice")
            continue
        decoded = decode(value, _Severity, path, report)
        if decoded is None:
            continue
        ack = duration(decoded.ack_within, (*path, "ack_within"), report, positive=True)
        expected = duration(
            decoded.expected_resolution, (*path, "expected_resolution"), report, positive=True
        )
        if ack is not None and expected is not None:
            rules[severity] = SeverityRule(
                ack_within=ack,
                expected_resolution=expected,
                pagerduty=decoded.pagerduty,
                slack=decoded.slack,
                business_hours=decoded.business_hours,
            )
    missing = [s.label for s in Severity if s not in rules and s.label not in raw]
    if missing:
        report.error(("severities",), f"no entry for {', '.join(missing)}")
    return rules


def _calendar(raw: _Calendar, report: Report) -> BusinessCalendar | None:
    path: DataPath = ("business_hours",)
    ok = True
    try:
        ZoneInfo(raw.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        report.error((*path, "timezone"), f"unknown timezone {raw.timezone!r} (e.g. UTC, Europe/Berlin)")
        ok = False
    days: set[int] = set()
    for index, name in enumerate(raw.weekdays):
        day = _WEEKDAYS.get(name.strip().lower()[:3])
        if day is None:
            report.error((*path, "weekdays", index), f"unknown weekday {name!r} (mon..sun)")
            ok = False
        else:
            days.add(day)
    if not raw.weekdays:
        report.error((*path, "weekdays"), "at least one working day is needed")
        ok = False
    match = _HOURS.match(raw.hours.strip())
    start = end = time(0)
    if match is None:
        report.error((*path, "hours"), f"expected HH:MM-HH:MM, got {raw.hours!r}")
        ok = False
    else:
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            report.error((*path, "hours"), f"not a time of day in {raw.hours!r}")
            ok = False
        else:
            start, end = time(h1, m1), time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
            if end <= start:
                report.error((*path, "hours"), "the day must end after it starts")
                ok = False
    holidays: set[date] = set()
    for index, text in enumerate(raw.holidays):
        try:
            holidays.add(date.fromisoformat(str(text)))
        except ValueError:
            report.error((*path, "holidays", index), f"expected a date YYYY-MM-DD, got {text!r}")
            ok = False
    if not ok:
        return None
    return BusinessCalendar(
        timezone=raw.timezone, weekdays=frozenset(days), start=start, end=end, holidays=frozenset(holidays)
    )


def _targets(
    raw_targets: dict[str, Any], path: DataPath, report: Report, check: TargetCheck | None
) -> Targets:
    known = {f.encode_name for f in msgspec.structs.fields(_Targets)}
    raw = decode({k: v for k, v in raw_targets.items() if k in known}, _Targets, path, report) or _Targets()
    for field in ("pagerduty", "slack_channels", "slack_users", "slack_usergroups"):
        for index, value in enumerate(getattr(raw, field)):
            if field == "pagerduty" and not _REF.match(value):
                report.error(
                    (*path, field, index),
                    f"expected a routing-key reference name such as default, got {value!r}",
                )
            elif not value.strip():
                report.error((*path, field, index), "empty target")
    channels: dict[str, tuple[str, ...]] = {}
    for channel, values in raw_targets.items():
        if channel in known:
            continue
        where = (*path, channel)
        if not _CHANNEL.match(channel):
            report.error(where, "a channel plug-in's name: lowercase letters, digits and '_'")
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            report.error(where, "expected a list of targets (text)")
            continue
        for index, value in enumerate(values):
            problem = "empty target" if not value.strip() else (check(channel, value) if check else None)
            if problem:
                report.error((*where, index), problem)
        channels[channel] = tuple(values)
    if not (raw.pagerduty or raw.slack_channels or raw.slack_users or raw.slack_usergroups or channels):
        report.error(path, "a level needs at least one target")
    return Targets(
        pagerduty=tuple(raw.pagerduty),
        slack_channels=tuple(raw.slack_channels),
        slack_users=tuple(raw.slack_users),
        slack_usergroups=tuple(raw.slack_usergroups),
        channels=channels,
    )


def _ladders(raw: list[_Policy], report: Report, check: TargetCheck | None) -> list[Ladder]:
    ladders: list[Ladder] = []
    seen: dict[str, int] = {}
    matches: dict[tuple[tuple[str, str], ...], str] = {}
    for index, policy in enumerate(raw):
        path: DataPath = ("policies", index)
        if policy.name in seen:
            report.error((*path, "name"), f"policy {policy.name!r} is defined twice")
        seen[policy.name] = index
        key = tuple(sorted(policy.match.items()))
        if key in matches:
            other = matches[key]
            report.error((*path, "match"), f"same match as policy {other!r}; one of them can never be chosen")
        matches[key] = policy.name
        if not 0 <= policy.repeat_last <= MAX_REPEAT:
            report.error((*path, "repeat_last"), f"expected 0..{MAX_REPEAT}, got {policy.repeat_last}")
        if not policy.levels:
            report.error((*path, "levels"), "a policy needs at least one level")
        levels: list[Level] = []
        for number, level in enumerate(policy.levels, start=1):
            where: DataPath = (*path, "levels", number - 1)
            within = duration(level.respond_within, (*where, "respond_within"), report, positive=True)
            targets = _targets(level.targets, (*where, "targets"), report, check)
            if within is not None:
                levels.append(Level(number=number, name=level.name, respond_within=within, targets=targets))
        ladders.append(
            Ladder(
                name=policy.name,
                match=dict(policy.match),
                levels=tuple(levels),
                repeat_last=policy.repeat_last,
            )
        )
    defaults = [ladder.name for ladder in ladders if not ladder.match]
    if not defaults:
        report.error(("policies",), "no default policy (one without `match`)")
    return ladders


def _rca(raw: _Rca, report: Report) -> RcaTimers | None:
    path: DataPath = ("rca",)
    severities = set(fields.severities(raw.severities, (*path, "severities"), report))
    draft = duration(raw.draft_within, (*path, "draft_within"), report, positive=True)
    final = duration(raw.final_within, (*path, "final_within"), report, positive=True)
    before: list[timedelta] = []
    for index, value in enumerate(raw.remind_before):
        parsed = duration(value, (*path, "remind_before", index), report, positive=False)
        if parsed is not None:
            before.append(parsed)
    if draft is None or final is None:
        return None
    if final < draft:
        report.error((*path, "final_within"), "the final RCA cannot be due before the draft")
    for index, reminder in enumerate(before):
        if reminder >= draft:
            report.error((*path, "remind_before", index), "must be shorter than draft_within")
    return RcaTimers(
        severities=frozenset(severities),
        draft_within=draft,
        final_within=final,
        remind_before=tuple(before) or (timedelta(0),),
    )


def load_escalation_policy(
    path: Path, *, base: Path | None = None, check_target: TargetCheck | None = None
) -> tuple[EscalationPolicy | None, list[Problem]]:
    """`check_target(channel, target)`: the channel plug-ins' verdict on each of their targets."""
    shown = display_path(path, base)
    doc, problems = load_located(path, shown_as=shown)
    if doc is None:
        return None, problems
    report = Report(doc)
    decoded = decode(doc.data, _File, (), report)
    if decoded is None:
        return None, sorted(problems + report.problems)
    severities = _severities(decoded.severities, report)
    calendar = _calendar(decoded.business_hours, report) if decoded.business_hours else None
    if decoded.business_hours is None and any(rule.business_hours for rule in severities.values()):
        report.error(("severities",), "business_hours: true needs a business_hours calendar")
    ladders = _ladders(decoded.policies, report, check_target)
    rca = _rca(decoded.rca, report) if decoded.rca else None
    problems = sorted(problems + report.problems)
    if problems:
        return None, problems
    policy = EscalationPolicy(
        severities=severities, ladders=tuple(ladders), calendar=calendar, rca=rca, source=shown
    )
    return policy, []


def require_escalation_policy(path: Path) -> EscalationPolicy:
    """For start-up: a broken policy stops the service with every problem listed, never half a ladder."""
    policy, problems = load_escalation_policy(path)
    if policy is None:
        raise PolicyError(problems)
    return policy

"""rules/policy/maintenance.yaml and rules/policy/inhibition.yaml: recurring windows and inhibit rules.

Every problem comes back as `file:line: field: message`, all of them at once, so
`incidentd check` can list them; the service refuses to start on a broken file
rather than silently paging through a maintenance it was told about.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import msgspec

from service.config.fields import PolicyError
from service.config.yaml_lines import (
    DataPath,
    Located,
    Problem,
    Report,
    decode,
    display_path,
    load_located,
)
from service.domain.inhibition import InhibitRule
from service.domain.maintenance_windows import RecurringWindow
from service.domain.silence_matchers import Matcher, MatcherError, parse_matchers
from service.domain.time_intervals import IntervalError, TimeInterval, build_interval

MAINTENANCE_FILE = Path("maintenance.yaml")  # in the policy directory
INHIBITION_FILE = Path("inhibition.yaml")
F = TypeVar("F", bound=msgspec.Struct)


class _Times(msgspec.Struct, forbid_unknown_fields=True):
    start_time: str
    end_time: str


class _Interval(msgspec.Struct, forbid_unknown_fields=True):
    times: list[_Times] = msgspec.field(default_factory=list)
    weekdays: list[str] = msgspec.field(default_factory=list)
    days_of_month: list[str | int] = msgspec.field(default_factory=list)
    months: list[str | int] = msgspec.field(default_factory=list)
    years: list[str | int] = msgspec.field(default_factory=list)
    location: str = "UTC"


class _Window(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    owner: str
    time_intervals: list[_Interval]
    matchers: list[str] = msgspec.field(default_factory=list)
    description: str = ""


class _MaintenanceFile(msgspec.Struct, forbid_unknown_fields=True):
    windows: list[_Window]


class _Inhibit(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    source_matchers: list[str]
    target_matchers: list[str]
    equal: list[str] = msgspec.field(default_factory=list)


class _InhibitionFile(msgspec.Struct, forbid_unknown_fields=True):
    inhibit_rules: list[_Inhibit]


class SilencePolicy(msgspec.Struct, frozen=True):
    windows: tuple[RecurringWindow, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()


def _matchers(items: list[str], path: DataPath, report: Report) -> tuple[Matcher, ...]:
    found: list[Matcher] = []
    for index, text in enumerate(items):
        try:
            found.extend(parse_matchers(text))
        except MatcherError as exc:
            report.error((*path, index), str(exc))
    return tuple(found)


def _interval(raw: _Interval, path: DataPath, report: Report) -> TimeInterval | None:
    try:
        return build_interval(
            times=[(t.start_time, t.end_time) for t in raw.times],
            weekdays=raw.weekdays,
            days_of_month=raw.days_of_month,
            months=raw.months,
            years=raw.years,
            location=raw.location,
        )
    except IntervalError as exc:
        field, _, message = str(exc).partition(": ")
        report.error((*path, field.split(".")[0]), message or str(exc))
        return None


def _open(
    path: Path, base: Path | None, cls: type[F]
) -> tuple[Located | None, Report | None, F | None, list[Problem]]:
    """Read and decode one policy file; a missing file is no problem (nothing configured)."""
    if not path.exists():
        return None, None, None, []
    doc, problems = load_located(path, shown_as=display_path(path, base))
    if doc is None:
        return None, None, None, problems
    report = Report(doc)
    return doc, report, decode(doc.data, cls, (), report), problems


def load_maintenance(
    path: Path, base: Path | None = None
) -> tuple[tuple[RecurringWindow, ...], list[Problem]]:
    doc, report, decoded, problems = _open(path, base, _MaintenanceFile)
    if doc is None or report is None:
        return (), problems
    windows: list[RecurringWindow] = []
    names: set[str] = set()
    for index, raw in enumerate(decoded.windows if decoded else []):
        where: DataPath = ("windows", index)
        if raw.name in names:
            report.error((*where, "name"), f"{raw.name!r} is used by an earlier window")
        names.add(raw.name)
        if not raw.time_intervals:
            report.error((*where, "time_intervals"), "at least one interval is required")
        intervals = [
            _interval(item, (*where, "time_intervals", i), report)
            for i, item in enumerate(raw.time_intervals)
        ]
        windows.append(
            RecurringWindow(
                name=raw.name,
                intervals=tuple(i for i in intervals if i is not None),
                matchers=_matchers(raw.matchers, (*where, "matchers"), report),
                owner=raw.owner,
                description=raw.description,
                file=doc.file,
                line=doc.line(where),
            )
        )
    problems.extend(report.problems)
    return (tuple(windows) if not problems else ()), problems


def load_inhibition(path: Path, base: Path | None = None) -> tuple[tuple[InhibitRule, ...], list[Problem]]:
    doc, report, decoded, problems = _open(path, base, _InhibitionFile)
    if doc is None or report is None:
        return (), problems
    rules: list[InhibitRule] = []
    for index, raw in enumerate(decoded.inhibit_rules if decoded else []):
        where: DataPath = ("inhibit_rules", index)
        source = _matchers(raw.source_matchers, (*where, "source_matchers"), report)
        target = _matchers(raw.target_matchers, (*where, "target_matchers"), report)
        if not raw.source_matchers:
            report.error((*where, "source_matchers"), "at least one matcher is required")
        if not raw.target_matchers:
            report.error((*where, "target_matchers"), "at least one matcher is required")
        rules.append(
            InhibitRule(
                name=raw.name,
                source_matchers=source,
                target_matchers=target,
                equal=tuple(raw.equal),
                file=doc.file,
                line=doc.line(where),
            )
        )
    problems.extend(report.problems)
    return (tuple(rules) if not problems else ()), problems


def load_silence_policy(policy_dir: Path, base: Path | None = None) -> tuple[SilencePolicy, list[Problem]]:
    windows, window_problems = load_maintenance(policy_dir / MAINTENANCE_FILE, base)
    rules, rule_problems = load_inhibition(policy_dir / INHIBITION_FILE, base)
    return SilencePolicy(windows=windows, inhibit_rules=rules), [*window_problems, *rule_problems]


def require_silence_policy(policy_dir: Path) -> SilencePolicy:
    """For start-up: a broken file stops the service (a maintenance it was told about must not page)."""
    policy, problems = load_silence_policy(policy_dir)
    if problems:
        raise PolicyError(problems)
    return policy

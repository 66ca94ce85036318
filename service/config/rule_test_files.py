"""Loading `rules test` files (rules/tests/*.yaml): the rule files they test and their scripted cases.

Format in rules/README.md ("Testing rules"). Problems are reported like rule
files, `file:line: field: what is wrong`, and a file with problems runs no tests.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import msgspec

from service.config.fields import Scalar, duration
from service.config.promtool_test_files import PromtoolTestFile, is_promtool_test, load_promtool_tests
from service.config.rule_files import load_rules
from service.config.yaml_lines import DataPath, Problem, Report, decode, display_path, load_located
from service.domain.alerts import AlertStatus
from service.domain.rule_tests import AlertCheck, ExpectedAlert, InputSeries, RuleTestCase, expand_values
from service.domain.rules import Level, RuleSet, parse_selector
from service.domain.severity import Severity


class _Expected(msgspec.Struct, kw_only=True):
    labels: dict[str, str] | None = None
    level: str | None = None
    severity: str | None = None
    state: str = "firing"
    annotations: dict[str, str] = msgspec.field(default_factory=dict)


class _Check(msgspec.Struct, kw_only=True):
    eval_time: Scalar
    alertname: str
    exp_alerts: list[_Expected] = msgspec.field(default_factory=list)


class _Series(msgspec.Struct, kw_only=True):
    series: str
    values: str | list[float | None]


class _Test(msgspec.Struct, kw_only=True):
    name: str
    interval: Scalar | None = None
    input_series: list[_Series] = msgspec.field(default_factory=list)
    alert_rule_test: list[_Check]


class _TestFile(msgspec.Struct, kw_only=True):
    rule_files: list[str]
    evaluation_interval: Scalar = "1m"
    tests: list[_Test]


class RuleTestFile(msgspec.Struct, frozen=True):
    file: str
    rules: RuleSet
    cases: tuple[RuleTestCase, ...]


def load_rule_tests(
    path: Path, *, base: Path | None = None
) -> tuple[RuleTestFile | PromtoolTestFile | None, list[Problem]]:
    shown = display_path(path, base)
    doc, problems = load_located(path, shown_as=shown)
    if doc is None:
        return None, problems
    if is_promtool_test(doc, path.parent):
        names = doc.data["rule_files"]
        rules, rule_problems = load_rules([path.parent / str(n) for n in names], base=base, for_tests=True)
        if rule_problems:
            return None, sorted([*problems, *rule_problems])
        return load_promtool_tests(doc, rules)
    report = Report(doc)
    raw = decode(doc.data, _TestFile, (), report)
    if raw is None:
        return None, sorted([*problems, *report.problems])
    rule_paths = [(path.parent / entry) for entry in raw.rule_files]
    for index, rule_path in enumerate(rule_paths):
        if not rule_path.exists():
            report.error(("rule_files", index), f"no such file or directory: {raw.rule_files[index]}")
    if report.problems:
        return None, sorted([*problems, *report.problems])
    rules, rule_problems = load_rules(rule_paths, base=base)
    if rule_problems:
        return None, sorted([*problems, *rule_problems])
    default_interval = duration(raw.evaluation_interval, ("evaluation_interval",), report, positive=True)
    cases = [
        case
        for index, test in enumerate(raw.tests)
        if (case := _case(test, ("tests", index), report, rules, default_interval)) is not None
    ]
    problems = sorted([*problems, *report.problems])
    if problems:
        return None, problems
    return RuleTestFile(shown, rules, tuple(cases)), []


def _case(
    test: _Test, path: DataPath, report: Report, rules: RuleSet, default: timedelta | None
) -> RuleTestCase | None:
    interval = (
        duration(test.interval, (*path, "interval"), report, positive=True) if test.interval else default
    )
    if interval is None:
        return None
    known = {rule.name for rule in rules.rules()} | {probe.name for probe in rules.sources.sql}
    series = [
        s
        for index, raw in enumerate(test.input_series)
        if (s := _series(raw, (*path, "input_series", index), report, known)) is not None
    ]
    checks = [
        c
        for index, raw in enumerate(test.alert_rule_test)
        if (c := _check(raw, (*path, "alert_rule_test", index), report, rules, interval)) is not None
    ]
    if not test.alert_rule_test:
        report.error((*path, "alert_rule_test"), "a test needs at least one check")
    return RuleTestCase(
        name=test.name,
        interval=interval,
        series=tuple(series),
        checks=tuple(checks),
        line=report.doc.line(path),
    )


def _series(raw: _Series, path: DataPath, report: Report, known: set[str]) -> InputSeries | None:
    try:
        selector = parse_selector(raw.series)
    except ValueError as exc:
        report.error((*path, "series"), str(exc))
        return None
    if any(m.op != "=" for m in selector.matchers):
        report.error((*path, "series"), 'input series take exact labels: name{label="value"}')
        return None
    if selector.name not in known:
        report.error(
            (*path, "series"), f"{selector.name!r} is neither a rule nor a SQL probe in the rule files"
        )
        return None
    if isinstance(raw.values, str):
        try:
            values = expand_values(raw.values)
        except ValueError as exc:
            report.error((*path, "values"), str(exc))
            return None
    else:
        values = list(raw.values)
    return InputSeries(
        name=selector.name,
        labels={m.label: m.value for m in selector.matchers},
        values=tuple(values),
        line=report.doc.line(path),
    )


def _check(
    raw: _Check, path: DataPath, report: Report, rules: RuleSet, interval: timedelta
) -> AlertCheck | None:
    ok = True
    eval_time = duration(raw.eval_time, (*path, "eval_time"), report, positive=False)
    if eval_time is not None and eval_time % interval:
        report.error((*path, "eval_time"), "must be a multiple of the test's interval")
        ok = False
    try:
        rules.rule(raw.alertname)
    except KeyError:
        report.error((*path, "alertname"), f"no rule named {raw.alertname!r} in the rule files")
        ok = False
    expected = [
        e
        for index, item in enumerate(raw.exp_alerts)
        if (e := _expected(item, (*path, "exp_alerts", index), report)) is not None
    ]
    if len(expected) != len(raw.exp_alerts) or not ok or eval_time is None:
        return None
    return AlertCheck(
        eval_time=eval_time, alertname=raw.alertname, expected=tuple(expected), line=report.doc.line(path)
    )


def _expected(raw: _Expected, path: DataPath, report: Report) -> ExpectedAlert | None:
    ok = True
    level = severity = None
    state = AlertStatus.FIRING
    try:
        level = Level(raw.level) if raw.level is not None else None
    except ValueError:
        report.error((*path, "level"), f"expected warning or critical, got {raw.level!r}")
        ok = False
    try:
        severity = Severity.parse(raw.severity) if raw.severity is not None else None
    except ValueError as exc:
        report.error((*path, "severity"), str(exc))
        ok = False
    try:
        state = AlertStatus(raw.state)
    except ValueError:
        report.error((*path, "state"), f"expected pending, firing or resolved, got {raw.state!r}")
        ok = False
    if state is AlertStatus.INACTIVE:
        report.error((*path, "state"), "inactive alerts are never listed: leave the alert out instead")
        ok = False
    if not ok:
        return None
    return ExpectedAlert(
        labels=raw.labels,
        level=level,
        severity=severity,
        state=state,
        annotations=raw.annotations,
        line=report.doc.line(path),
    )

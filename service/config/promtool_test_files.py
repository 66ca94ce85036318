"""Loading promtool's own test files (`promtool test rules` format) for Prometheus-format rule files.

A team that brings its rule files usually brings their tests too. This reads
them as promtool does (`rule_files`, `evaluation_interval`, `tests:` with
`interval`, `input_series` in the expanding notation, `alert_rule_test` with
`exp_labels` / `exp_annotations`) and refuses, with file:line, what it does not
run: `promql_expr_test` needs PromQL's full language (run promtool for those),
and expressions outside the subset of service.domain.promql_parse.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from service.config.fields import Scalar, duration
from service.config.prometheus_rules import is_prometheus_rules
from service.config.rule_files import rule_files_in
from service.config.yaml_lines import DataPath, Located, Problem, Report, decode, load_located
from service.domain.promql_eval import STALE, Series, Stale
from service.domain.promql_parse import Unsupported, parse_series
from service.domain.promtool_cases import PromAlertCheck, PromTestCase, compile_exprs
from service.domain.rule_tests import expand_values
from service.domain.rules import Rule, RuleSet


class _Expected(msgspec.Struct, kw_only=True):
    exp_labels: dict[str, str] = msgspec.field(default_factory=dict)
    exp_annotations: dict[str, str] = msgspec.field(default_factory=dict)


class _Check(msgspec.Struct, kw_only=True):
    eval_time: Scalar
    alertname: str
    exp_alerts: list[_Expected] = msgspec.field(default_factory=list)


class _Series(msgspec.Struct, kw_only=True):
    series: str
    values: str | int | float


class _Test(msgspec.Struct, kw_only=True):
    name: str = ""
    interval: Scalar | None = None
    input_series: list[_Series] = msgspec.field(default_factory=list)
    alert_rule_test: list[_Check] = msgspec.field(default_factory=list)
    promql_expr_test: list[Any] | None = None
    external_labels: dict[str, str] | None = None
    external_url: str | None = None


class _PromtoolFile(msgspec.Struct, kw_only=True):
    rule_files: list[str]
    evaluation_interval: Scalar = "1m"
    group_eval_order: list[str] | None = None
    tests: list[_Test]


class PromtoolTestFile(msgspec.Struct, frozen=True):
    file: str
    rules: RuleSet
    cases: tuple[PromTestCase, ...]


def load_promtool_tests(doc: Located, rules: RuleSet) -> tuple[PromtoolTestFile | None, list[Problem]]:
    report = Report(doc)
    raw = decode(doc.data, _PromtoolFile, (), report)
    if raw is None:
        return None, sorted(report.problems)
    interval = duration(raw.evaluation_interval, ("evaluation_interval",), report, positive=True)
    alerting = list(rules.rules())
    try:
        compile_exprs(alerting)
    except Unsupported as exc:
        report.error(("rule_files",), f"cannot run these rules here: {exc}")
    names = {rule.alertname for rule in alerting}
    cases = []
    for index, test in enumerate(raw.tests):
        case = _case(test, ("tests", index), report, names, interval, alerting)
        if case is not None:
            cases.append(case)
    problems = sorted(p for p in report.problems if not p.warning)
    if problems or interval is None:
        return None, problems
    return PromtoolTestFile(doc.file, rules, tuple(cases)), []


def _case(
    test: _Test,
    path: DataPath,
    report: Report,
    names: set[str],
    interval: timedelta | None,
    rules: list[Rule],
) -> PromTestCase | None:
    if test.promql_expr_test:
        report.error((*path, "promql_expr_test"), "not supported: incidentd evaluates only alerting rules "
                     "here; run `promtool test rules` for expression tests")  # fmt: skip
    if test.external_labels or test.external_url:
        report.error((*path, "external_labels" if test.external_labels else "external_url"),
                     "not supported: incidentd has no external labels or URL")  # fmt: skip
    spacing = (
        duration(test.interval, (*path, "interval"), report, positive=True) if test.interval else interval
    )
    series = [
        s
        for index, raw in enumerate(test.input_series)
        if (s := _series(raw, (*path, "input_series", index), report, spacing)) is not None
    ]
    checks = []
    for index, raw in enumerate(test.alert_rule_test):
        where = (*path, "alert_rule_test", index)
        eval_time = duration(raw.eval_time, (*where, "eval_time"), report, positive=False)
        if raw.alertname not in names:
            report.error((*where, "alertname"), f"no alerting rule named {raw.alertname!r} in the rule files")
            continue
        if eval_time is None:
            continue
        expected = tuple((dict(e.exp_labels), dict(e.exp_annotations)) for e in raw.exp_alerts)
        line = report.doc.line(where)
        checks.append(
            PromAlertCheck(eval_time=eval_time, alertname=raw.alertname, expected=expected, line=line)
        )
    if interval is None or spacing is None:
        return None
    return PromTestCase(
        name=test.name or f"test {path[-1]}",
        evaluation_interval=interval,
        series=tuple(series),
        checks=tuple(checks),
        line=report.doc.line(path),
    )


def _series(raw: _Series, path: DataPath, report: Report, spacing: timedelta | None) -> Series | None:
    try:
        labels = parse_series(raw.series)
    except Unsupported as exc:
        report.error((*path, "series"), str(exc))
        return None
    values: list[float | Stale | None] = []
    for token in str(raw.values).split():
        if token == "stale":  # noqa: S105 - promtool's staleness marker, not a secret
            values.append(STALE)
            continue
        if token.startswith("{{"):
            report.error((*path, "values"), "native histogram samples are not supported")
            return None
        try:
            values.extend(expand_values(token))
        except ValueError as exc:
            report.error((*path, "values"), str(exc))
            return None
    if spacing is None:
        return None
    step = spacing.total_seconds()
    points = [(i * step, v) for i, v in enumerate(values) if v is not None]
    return Series(labels=labels, points=points)


def is_promtool_test(doc: Located, base_dir: Path) -> bool:
    """A test file for Prometheus-format rule files (checked by looking at the rule files it names)."""
    names = doc.data.get("rule_files") if isinstance(doc.data, dict) else None
    if not isinstance(names, list) or not names:
        return False
    for path in rule_files_in([base_dir / str(name) for name in names]):
        loaded, _ = load_located(path)
        if loaded is None or not is_prometheus_rules(loaded.data):
            return False
    return True

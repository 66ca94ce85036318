"""promtool-style unit tests (`tests:` with raw input series) for Prometheus-format rule files.

The expression is evaluated by the PromQL subset in promql_eval over the input
series; the alerts come from incidentd's own evaluation (`evaluate()`, the alert
state machine, the annotation templates), so a test says what incidentd will
page on. The loop follows `promtool test rules`: every rule is evaluated at
every `evaluation_interval` from 0 to the last `eval_time`, and a check at
`eval_time` sees the evaluation at the latest step not after it. `exp_alerts`
lists exactly the firing alerts, with all their labels (alertname added) and
all their annotations.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import msgspec

from service.domain.alerts import AlertState, AlertStatus, series_key
from service.domain.evaluation import current_alerts, evaluate
from service.domain.promql_eval import Engine, Series
from service.domain.promql_parse import Expr, Unsupported, parse_expr
from service.domain.rule_tests import TEST_EPOCH, Failure, offset_text
from service.domain.rules import Rule


class PromAlertCheck(msgspec.Struct, frozen=True, kw_only=True):
    eval_time: timedelta
    alertname: str
    expected: tuple[tuple[dict[str, str], dict[str, str]], ...]  # (labels, annotations)
    line: int = 0


class PromTestCase(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    evaluation_interval: timedelta
    series: tuple[Series, ...]
    checks: tuple[PromAlertCheck, ...]
    line: int = 0


def compile_exprs(rules: Sequence[Rule]) -> dict[str, Expr]:
    """Each rule's parsed expr; raises Unsupported naming the rule whose expr cannot be evaluated here."""
    parsed: dict[str, Expr] = {}
    for rule in rules:
        try:
            parsed[rule.name] = parse_expr(rule.signal.query or "")
        except Unsupported as exc:
            raise Unsupported(f"{rule.file}:{rule.line}: {rule.alertname}.expr: {exc}") from None
    return parsed


def run_promtool_case(rules: Sequence[Rule], case: PromTestCase) -> list[Failure]:
    names = {check.alertname for check in case.checks}
    tested = [rule for rule in rules if rule.alertname in names]
    exprs = compile_exprs(tested)
    engine = Engine(case.series, step=case.evaluation_interval.total_seconds())
    states: dict[str, dict[str, AlertState]] = {rule.name: {} for rule in tested}
    checks = sorted(case.checks, key=lambda c: c.eval_time)
    last = max((c.eval_time for c in checks), default=timedelta(0))
    step = case.evaluation_interval
    failures: list[Failure] = []
    at = timedelta(0)
    while at <= last:
        for rule in tested:
            try:
                rows = [
                    ({k: v for k, v in labels.items() if k != "__name__"}, value)
                    for labels, value in engine.query(exprs[rule.name], at.total_seconds())
                ]
            except Unsupported as exc:
                failures.append(Failure(rule.line, case.name, f"{rule.alertname}: cannot evaluate: {exc}"))
                return failures
            states[rule.name] = evaluate(rule, rows, states[rule.name], TEST_EPOCH + at).states
        for check in (c for c in checks if at <= c.eval_time < at + step):
            message = _compare(check, tested, states)
            if message:
                failures.append(Failure(check.line, case.name, message))
        at += step
    return failures


def _compare(check: PromAlertCheck, rules: Sequence[Rule], states: dict[str, dict[str, AlertState]]) -> str:
    got = sorted(
        (series_key(alert.labels), sorted(alert.annotations.items()))
        for rule in rules
        if rule.alertname == check.alertname
        for alert in current_alerts(rule, states[rule.name])
        if alert.status is AlertStatus.FIRING
    )
    expected = sorted(
        (series_key({**labels, "alertname": check.alertname}), sorted(annotations.items()))
        for labels, annotations in check.expected
    )
    if got == expected:
        return ""
    lines = [f"{check.alertname} at {offset_text(check.eval_time)}:"]
    lines.append("  expected: " + (", ".join(_show(e) for e in expected) or "no firing alerts"))
    lines.append("  got:      " + (", ".join(_show(g) for g in got) or "no firing alerts"))
    return "\n".join(lines)


def _show(item: tuple[str, list[tuple[str, str]]]) -> str:
    labels, annotations = item
    shown = " ".join(f"{k}={v!r}" for k, v in annotations)
    return f"[labels={labels}{' ' + shown if shown else ''}]"

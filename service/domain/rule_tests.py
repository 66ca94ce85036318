"""Unit tests for rules, in the spirit of `promtool test rules`: a scripted timeline, expected alerts.

Input series carry the *derived* value a rule compares (the ratio, the p95,
the probe's value column), one value per step, so a test exercises exactly
what runs in production: `evaluate()` and the alert state machine, step by step.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from service.domain.absence import absence_rows
from service.domain.alerts import AlertState, AlertStatus, series_key
from service.domain.evaluation import Alert, SeriesValues, current_alerts, evaluate, probe_rows
from service.domain.rules import Level, Rule, RuleSet, SignalKind
from service.domain.severity import Severity

# Any fixed instant will do; tests speak in offsets ("eval_time: 10m") from it.
TEST_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_EXPANDING = re.compile(
    rf"^(?P<a>{_NUMBER})(?:(?P<op>[+-])(?P<b>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?))?x(?P<n>\d+)$"
)
_MISSING_RUN = re.compile(r"^_x(?P<n>\d+)$")
MAX_STEPS = 100_000


class InputSeries(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # a rule's name (its derived value) or a SQL probe's name (its rows)
    labels: dict[str, str]
    values: tuple[float | None, ...]
    line: int = 0


class ExpectedAlert(msgspec.Struct, frozen=True, kw_only=True):
    """Fields left out are not compared; `labels`, when given, must match exactly."""

    labels: dict[str, str] | None = None
    level: Level | None = None
    severity: Severity | None = None
    state: AlertStatus = AlertStatus.FIRING
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    line: int = 0


class AlertCheck(msgspec.Struct, frozen=True, kw_only=True):
    eval_time: timedelta
    alertname: str
    expected: tuple[ExpectedAlert, ...]
    line: int = 0


class RuleTestCase(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    interval: timedelta
    series: tuple[InputSeries, ...]
    checks: tuple[AlertCheck, ...]
    line: int = 0


class Failure(msgspec.Struct, frozen=True):
    line: int
    test: str
    message: str


def expand_values(text: str) -> list[float | None]:
    """Promtool's expanding notation: `1 2 3`, `0.05x3` (4 values), `1+2x3`, `10-1x2`, `_`, `_x3`, `stale`."""
    values: list[float | None] = []
    for token in text.split():
        if token in {"_", "stale"}:
            values.append(None)
            continue
        missing = _MISSING_RUN.match(token)
        if missing:
            values.extend([None] * int(missing.group("n")))
            continue
        expanding = _EXPANDING.match(token)
        if expanding:
            start = float(expanding.group("a"))
            delta = float(expanding.group("b") or 0) * (-1 if expanding.group("op") == "-" else 1)
            count = int(expanding.group("n"))
            if len(values) + count > MAX_STEPS:
                raise ValueError(f"{token!r} expands to more than {MAX_STEPS} values")
            values.extend(start + delta * i for i in range(count + 1))
            continue
        try:
            number = float(token)
        except ValueError:
            raise ValueError(f"cannot read {token!r}: expected a number, _, stale, or a+bxn / axn") from None
        if math.isinf(number) and token.lower().lstrip("+-") not in {"inf", "infinity"}:
            raise ValueError(f"cannot read {token!r}: number out of range")
        values.append(number)
    return values


def _inputs_for(rule: Rule, series: Sequence[InputSeries], step: int) -> SeriesValues:
    """A "series missing" rule (`<alert>_absent`) reads the input series of the rule it watches."""
    if rule.absence_of is not None:
        watched = msgspec.structs.replace(rule, name=rule.absence_of, absence_of=None)
        return absence_rows(rule, list(_inputs_for(watched, series, step))) or []
    values: list[tuple[Mapping[str, str], float]] = [
        (s.labels, v) for s in series if s.name == rule.name and (v := _value(s, step)) is not None
    ]
    if rule.signal.kind is SignalKind.PROBE:
        rows = [
            (s.labels, v)
            for s in series
            if s.name == rule.signal.source and (v := _value(s, step)) is not None
        ]
        values.extend(probe_rows(rule.signal, rows))
    return values


def _value(series: InputSeries, step: int) -> float | None:
    return series.values[step] if step < len(series.values) else None


def run_case(rules: RuleSet, case: RuleTestCase, start: datetime = TEST_EPOCH) -> list[Failure]:
    """Evaluate the rules the checks name at every step up to the last eval_time; compare at each check."""
    by_step: dict[int, list[AlertCheck]] = {}
    for check in case.checks:
        by_step.setdefault(int(check.eval_time / case.interval), []).append(check)
    names = sorted({check.alertname for check in case.checks})
    tested = [rules.rule(name) for name in names]
    states: dict[str, dict[str, AlertState]] = {name: {} for name in names}
    failures: list[Failure] = []
    for step in range(max(by_step, default=-1) + 1):
        at = start + case.interval * step
        for rule in tested:
            result = evaluate(rule, _inputs_for(rule, case.series, step), states[rule.name], at)
            states[rule.name] = result.states
        for check in by_step.get(step, []):
            message = compare(check, current_alerts(rules.rule(check.alertname), states[check.alertname]))
            if message:
                failures.append(Failure(check.line, case.name, message))
    return failures


def _matches(expected: ExpectedAlert, alert: Alert) -> bool:
    return (
        alert.status is expected.state
        and (expected.labels is None or expected.labels == alert.labels)
        and (expected.level is None or expected.level is alert.level)
        and (expected.severity is None or expected.severity is alert.severity)
        and all(alert.annotations.get(k) == v for k, v in expected.annotations.items())
    )


def compare(check: AlertCheck, alerts: Sequence[Alert]) -> str | None:
    """None when the pending and firing alerts are exactly the expected ones (resolved only if listed)."""
    active = [a for a in alerts if a.status in (AlertStatus.PENDING, AlertStatus.FIRING)]
    resolved = [a for a in alerts if a.status is AlertStatus.RESOLVED]
    unmatched = list(active) + list(resolved)
    missing: list[ExpectedAlert] = []
    for expected in check.expected:
        hit = next((a for a in unmatched if _matches(expected, a)), None)
        if hit is None:
            missing.append(expected)
        else:
            unmatched.remove(hit)
    extra = [a for a in unmatched if a.status is not AlertStatus.RESOLVED]
    if not missing and not extra:
        return None
    shown = [a for a in alerts if a.status is not AlertStatus.RESOLVED or any(
        e.state is AlertStatus.RESOLVED for e in check.expected)]  # fmt: skip
    when = offset_text(check.eval_time)
    lines = [f"{check.alertname} at {when}:"]
    lines.append("  expected: " + (", ".join(_show_expected(e) for e in check.expected) or "no alerts"))
    keys = sorted({k for e in check.expected for k in e.annotations})
    lines.append("  got:      " + (", ".join(_show_alert(a, keys) for a in shown) or "no alerts"))
    return "\n".join(lines)


def offset_text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60}m{seconds % 60}s" if seconds % 60 else f"{seconds // 60}m"


def _show_expected(expected: ExpectedAlert) -> str:
    parts = [f"state={expected.state.value}"]
    if expected.level is not None:
        parts.append(f"level={expected.level.value}")
    if expected.severity is not None:
        parts.append(f"severity={expected.severity.label}")
    if expected.labels is not None:
        parts.append(f"labels={series_key(expected.labels)}")
    parts.extend(f"{k}={v!r}" for k, v in expected.annotations.items())
    return "[" + " ".join(parts) + "]"


def _show_alert(alert: Alert, annotation_keys: Sequence[str]) -> str:
    level = alert.level.value if alert.level else "-"
    severity = alert.severity.label if alert.severity is not None else "-"
    parts = [
        f"state={alert.status.value} level={level} severity={severity} labels={series_key(alert.labels)}"
    ]
    parts.extend(f"{k}={alert.annotations.get(k)!r}" for k in annotation_keys)
    return "[" + " ".join(parts) + "]"

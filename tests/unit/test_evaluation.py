from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from service.domain.alerts import AlertState, AlertStatus, TransitionKind
from service.domain.evaluation import (
    RESOLVED_RETENTION,
    Evaluation,
    current_alerts,
    evaluate,
    group_transitions,
    probe_rows,
)
from service.domain.rules import (
    Comparison,
    Level,
    Rule,
    Signal,
    SignalKind,
    parse_selector,
    render_annotations,
    template_problems,
)
from service.domain.severity import Severity
from service.domain.units import UnitKind, parse_quantity

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_rule(**changes: Any) -> Rule:
    rule = Rule(
        name="ApiErrorRate",
        group="api",
        signal=Signal(kind=SignalKind.GAUGE, source="app", metric=parse_selector("error_ratio")),
        comparison=Comparison.ABOVE,
        unit=UnitKind.PERCENT,
        warning=parse_quantity("3%"),
        critical=parse_quantity("10%"),
        for_=timedelta(minutes=2),
        keep_firing_for=timedelta(0),
        severity={Level.WARNING: Severity.P2, Level.CRITICAL: Severity.P1},
        labels={"service": "api", "team": "web"},
        annotations={
            "summary": "{{ alertname }} {{ value }} on {{ labels.path }} ({{ level }} > {{ threshold }})"
        },
    )
    return msgspec.structs.replace(rule, **changes)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def timeline(rule: Rule, steps: Sequence[dict[str, float] | None], label: str = "path") -> list[Evaluation]:
    """Each step maps a label value to the series value; None means the source could not be read."""
    states: dict[str, AlertState] = {}
    results = []
    for minute, values in enumerate(steps):
        series = None if values is None else [({label: key}, value) for key, value in values.items()]
        result = evaluate(rule, series, states, at(minute))
        states = result.states
        results.append(result)
    return results


@pytest.mark.parametrize(
    ("comparison", "value", "level"),
    [
        (Comparison.ABOVE, 0.02, None),
        (Comparison.ABOVE, 0.03, None),  # strictly above, as the seeds write "> 3%"
        (Comparison.ABOVE, 0.031, Level.WARNING),
        (Comparison.ABOVE, 0.2, Level.CRITICAL),
        (Comparison.BELOW, 0.995, Level.WARNING),
        (Comparison.BELOW, 0.98, Level.CRITICAL),
        (Comparison.BELOW, 0.9995, None),
        (Comparison.ABOVE, math.nan, None),
        (Comparison.ABOVE, None, None),
    ],
)
def test_levels_follow_the_comparison(
    comparison: Comparison, value: float | None, level: Level | None
) -> None:
    if comparison is Comparison.BELOW:
        rule = make_rule(
            comparison=comparison, warning=parse_quantity("99.9%"), critical=parse_quantity("99%")
        )
    else:
        rule = make_rule()
    assert rule.level_for(value) is level


def test_a_rule_with_only_a_critical_level_never_warns() -> None:
    rule = make_rule(warning=None, severity={Level.CRITICAL: Severity.P0})
    assert rule.level_for(0.05) is None
    assert rule.level_for(0.11) is Level.CRITICAL
    assert rule.levels == (Level.CRITICAL,)


def test_healthy_series_leave_no_state_and_breaching_ones_go_pending_then_firing() -> None:
    results = timeline(
        make_rule(), [{"/ok": 0.01, "/bad": 0.05}, {"/ok": 0.01, "/bad": 0.05}, {"/bad": 0.05}]
    )
    first = results[0]
    assert list(first.states) == ['{path="/bad"}']
    assert [t.kind for t in first.transitions] == [TransitionKind.PENDING]
    assert [t.kind for t in results[1].transitions] == []
    fired = results[2].transitions
    assert [t.kind for t in fired] == [TransitionKind.FIRING]
    assert fired[0].severity is Severity.P2
    assert fired[0].labels == {"path": "/bad", "service": "api", "team": "web"}
    assert fired[0].group_key == 'rules:{alertname="ApiErrorRate",service="api"}'
    assert fired[0].annotations == {"summary": "ApiErrorRate 5% on /bad (warning > 3%)"}
    assert fired[0].auto_resolve is False


def test_rule_labels_win_over_series_labels() -> None:
    (result,) = timeline(make_rule(for_=timedelta(0)), [{"payments": 0.5}], label="service")
    assert current_alerts(make_rule(), result.states)[0].labels["service"] == "api"


def test_escalation_from_warning_to_critical_is_a_transition_with_both_severities() -> None:
    results = timeline(make_rule(), [{"/a": 0.05}] * 3 + [{"/a": 0.2}] * 3)
    raised = [t for r in results for t in r.transitions if t.kind is TransitionKind.LEVEL_RAISED]
    assert len(raised) == 1
    assert (raised[0].previous_severity, raised[0].severity) == (Severity.P2, Severity.P1)
    assert raised[0].at == at(5)


def test_a_vanished_series_counts_as_not_breaching_and_resolves() -> None:
    results = timeline(make_rule(for_=timedelta(0)), [{"/a": 0.2}, {}])
    (resolved,) = results[1].transitions
    assert resolved.kind is TransitionKind.RESOLVED
    assert resolved.value is None
    (alert,) = current_alerts(make_rule(), results[1].states)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.annotations["summary"] == "ApiErrorRate (no data) on /a (critical > 10%)"


def test_an_unreadable_source_holds_every_state_unchanged() -> None:
    results = timeline(make_rule(for_=timedelta(0)), [{"/a": 0.2}, None, None])
    assert results[1].transitions == []
    assert results[2].states == results[0].states
    assert current_alerts(make_rule(), results[2].states)[0].status is AlertStatus.FIRING


def test_resolved_alerts_are_kept_for_a_while_then_dropped() -> None:
    rule = make_rule(for_=timedelta(0))
    fired = evaluate(rule, [({"path": "/a"}, 0.2)], {}, T0)
    resolved = evaluate(rule, [], fired.states, T0 + timedelta(minutes=1))
    kept = evaluate(
        rule, [], resolved.states, T0 + timedelta(minutes=1) + RESOLVED_RETENTION - timedelta(seconds=1)
    )
    dropped = evaluate(rule, [], kept.states, T0 + timedelta(minutes=1) + RESOLVED_RETENTION)
    assert [a.status for a in current_alerts(rule, kept.states)] == [AlertStatus.RESOLVED]
    assert kept.transitions == []
    assert dropped.states == {}
    assert current_alerts(rule, dropped.states) == []


def test_pending_series_that_clear_are_dropped_from_state() -> None:
    results = timeline(make_rule(), [{"/a": 0.05}, {"/a": 0.01}])
    assert [t.kind for t in results[1].transitions] == [TransitionKind.CANCELLED]
    assert results[1].states == {}


def test_a_repeated_label_set_is_stepped_once() -> None:
    result = evaluate(make_rule(), [({"path": "/a"}, 0.05), ({"path": "/a"}, 0.2)], {}, T0)
    assert len(result.transitions) == 1
    assert result.states['{path="/a"}'].value == 0.05


def test_twenty_thousand_breaching_series_are_one_group() -> None:
    rule = make_rule(for_=timedelta(0))
    series = [({"path": f"/p/{i}", "service": "api"}, 0.5) for i in range(20_000)]
    result = evaluate(rule, series, {}, T0)
    assert len(result.states) == 20_000
    grouped = group_transitions(result.transitions)
    assert list(grouped) == ['rules:{alertname="ApiErrorRate",service="api"}']
    assert len(grouped['rules:{alertname="ApiErrorRate",service="api"}']) == 20_000


def test_auto_resolve_travels_with_the_transition() -> None:
    result = evaluate(make_rule(for_=timedelta(0), auto_resolve=True), [({}, 0.5)], {}, T0)
    assert result.transitions[0].auto_resolve is True


def test_evaluation_results_encode_for_storage_and_logs() -> None:
    result = evaluate(make_rule(for_=timedelta(0)), [({"path": "/a"}, 0.5)], {}, T0)
    decoded = msgspec.json.decode(msgspec.json.encode(result), type=Evaluation)
    assert decoded == result


def test_probe_rows_keep_what_the_probe_selector_selects() -> None:
    signal = Signal(kind=SignalKind.PROBE, source="jobs", metric=parse_selector('jobs{status="pending"}'))
    rows = [({"status": "pending"}, 60.0), ({"status": "failed"}, 500.0)]
    assert probe_rows(signal, rows) == [({"status": "pending"}, 60.0)]
    gauge = Signal(kind=SignalKind.GAUGE, source="app", metric=parse_selector('x{status="pending"}'))
    assert probe_rows(gauge, rows) == rows


@pytest.mark.parametrize(
    ("selector", "labels", "hit"),
    [
        ('m{code=~"5.."}', {"code": "503"}, True),
        ('m{code=~"5.."}', {"code": "5030"}, False),  # anchored, as in PromQL
        ('m{code!~"5.."}', {"code": "200"}, True),
        ('m{path!="/metrics"}', {"path": "/metrics"}, False),
        ('m{path!="/metrics"}', {}, True),
        ('m{env="prod"}', {}, False),
    ],
)
def test_selectors_match_like_promql(selector: str, labels: dict[str, str], hit: bool) -> None:
    assert parse_selector(selector).matches(labels) is hit


@pytest.mark.parametrize("text", ["m{code=5}", "5m", 'm{code=~"("}', 'm{a="1" b="2"}'])
def test_bad_selectors_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"cannot read|bad regular expression"):
        parse_selector(text)


def test_annotations_render_missing_labels_as_empty_text() -> None:
    rule = make_rule()
    rendered = render_annotations(rule, {"service": "api"}, 0.2, Level.CRITICAL)
    assert rendered == {"summary": "ApiErrorRate 20% on  (critical > 10%)"}


def test_template_problems_name_unknown_placeholders() -> None:
    assert template_problems("{{ value }} {{ labels.path }} {{ for }}") == []
    assert template_problems("{{ valeu }}")[0].startswith("unknown placeholder {{ valeu }}")
    assert template_problems("{{ value }")[0] == "unbalanced {{ }} in template"

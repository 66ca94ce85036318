"""The evaluation's shortcuts must decide exactly what the long way would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from service.domain.alerts import AlertState, AlertStatus, TransitionKind, group_key
from service.domain.evaluation import GroupKeys, alert_labels, evaluate
from service.domain.rules import Comparison, Level, Rule, Signal, SignalKind, parse_selector
from service.domain.severity import Severity
from service.domain.units import UnitKind, parse_quantity

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_rule(**changes: Any) -> Rule:
    return Rule(
        **{
            "name": "ApiErrorRate",
            "group": "api",
            "signal": Signal(kind=SignalKind.GAUGE, source="app", metric=parse_selector("error_ratio")),
            "comparison": Comparison.ABOVE,
            "unit": UnitKind.PERCENT,
            "warning": parse_quantity("3%"),
            "critical": parse_quantity("10%"),
            "for_": timedelta(minutes=2),
            "keep_firing_for": timedelta(0),
            "severity": {Level.WARNING: Severity.P2, Level.CRITICAL: Severity.P1},
            "labels": {"service": "api"},
            "annotations": {"summary": "{{ alertname }} {{ value }} on {{ labels.path }}"},
            **changes,
        }
    )


def test_a_healthy_series_is_matched_to_its_state_whatever_the_label_order() -> None:
    """States read back from jsonb come in another key order than the scrape's: the healthy series is
    still the stored one (its pending alert is cancelled, with its value), not a missing series."""
    rule = make_rule()
    first = evaluate(rule, [({"path": "/a", "pod": "p1"}, 0.2)], {}, T0)
    (key,) = first.states
    stored = {key: msgspec.structs.replace(first.states[key], labels={"pod": "p1", "path": "/a"})}
    later = evaluate(rule, [({"path": "/a", "pod": "p1"}, 0.01)], stored, T0 + timedelta(minutes=1))
    (cancelled,) = later.transitions
    assert cancelled.kind is TransitionKind.CANCELLED
    assert cancelled.value == 0.01
    assert cancelled.series == key


def test_a_healthy_series_with_no_state_is_skipped_and_a_missing_one_steps_without_value() -> None:
    rule = make_rule()
    first = evaluate(rule, [({"path": "/a"}, 0.2), ({"path": "/b"}, 0.01)], {}, T0)
    assert [s.labels for s in first.states.values()] == [{"path": "/a"}]
    later = evaluate(rule, [({"path": "/b"}, 0.01)], first.states, T0 + timedelta(minutes=1))
    (cancelled,) = later.transitions
    assert cancelled.value is None
    assert later.states == {}


def test_group_keys_equal_the_long_way_for_every_grouping() -> None:
    labels = [{"path": "/a", "pod": "p1"}, {"path": "/a", "pod": "p2"}, {"path": "/b"}, {}]
    for group_by in (("alertname", "service"), ("alertname", "path"), ("path", "pod"), ("...",)):
        rule = make_rule(group_by=group_by)
        keys = GroupKeys(rule)
        for series in labels * 2:
            long_way = group_key(rule.alertname, rule.group_by, alert_labels(rule, series))
            assert keys(series) == long_way, (group_by, series)


def test_only_transitions_people_are_told_of_carry_annotations() -> None:
    rule = make_rule(for_=timedelta(minutes=1))
    pending = evaluate(rule, [({"path": "/a"}, 0.2)], {}, T0)
    assert [(t.kind, t.annotations) for t in pending.transitions] == [(TransitionKind.PENDING, {})]
    fired = evaluate(rule, [({"path": "/a"}, 0.2)], pending.states, T0 + timedelta(minutes=1))
    (firing,) = fired.transitions
    assert firing.kind is TransitionKind.FIRING
    assert firing.annotations["summary"].startswith("ApiErrorRate 20")
    assert fired.group_keys == {firing.series: firing.group_key}
    assert next(iter(fired.states.values())).status is AlertStatus.FIRING


def test_an_unreadable_source_keeps_states_and_their_group_keys() -> None:
    rule = make_rule()
    state = AlertState(labels={"path": "/a"}, status=AlertStatus.PENDING, updated_at=T0)
    held = evaluate(rule, None, {"k": state}, T0 + timedelta(minutes=1))
    assert held.states == {"k": state}
    expected = group_key(rule.alertname, rule.group_by, alert_labels(rule, state.labels))
    assert held.group_keys == {"k": expected}

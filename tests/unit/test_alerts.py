from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from service.domain.alerts import (
    AlertState,
    AlertStatus,
    AlertTransition,
    Observation,
    group_key,
    series_key,
    step,
)
from service.domain.rules import Level

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
W, C = Level.WARNING, Level.CRITICAL
MINUTE = timedelta(minutes=1)


def run(
    levels: list[Level | None],
    *,
    for_: int = 0,
    keep: int = 0,
    state: AlertState | None = None,
    start: int = 0,
) -> tuple[AlertState, list[tuple[int, AlertTransition]]]:
    """Feed one observation a minute; return the final state and (minute, transition) pairs."""
    current = state or AlertState()
    seen: list[tuple[int, AlertTransition]] = []
    for minute, level in enumerate(levels, start=start):
        current, changes = step(
            current,
            Observation(T0 + timedelta(minutes=minute), level, 1.0 if level else 0.0),
            for_=timedelta(minutes=for_),
            keep_firing_for=timedelta(minutes=keep),
            interval=MINUTE,
        )
        seen.extend((minute, change) for change in changes)
    return current, seen


def kinds(seen: list[tuple[int, AlertTransition]]) -> list[tuple[int, str]]:
    return [(minute, t.kind.value) for minute, t in seen]


def test_pending_while_the_breach_is_younger_than_for_then_firing() -> None:
    state, seen = run([None, W, W, W, W], for_=3)
    assert kinds(seen) == [(1, "pending"), (4, "firing")]
    assert state.status is AlertStatus.FIRING
    assert state.level is W
    assert state.breach_since == T0 + timedelta(minutes=1)
    assert state.firing_since == T0 + timedelta(minutes=4)


def test_for_zero_fires_on_the_first_breach() -> None:
    state, seen = run([W], for_=0)
    assert kinds(seen) == [(0, "firing")]
    assert state.status is AlertStatus.FIRING


def test_a_breach_shorter_than_for_is_cancelled_silently() -> None:
    state, seen = run([W, W, None, W], for_=3)
    assert kinds(seen) == [(0, "pending"), (2, "cancelled"), (3, "pending")]
    assert state.status is AlertStatus.PENDING
    assert state.breach_since == T0 + timedelta(minutes=3)  # the clock starts over


def test_without_keep_firing_for_the_first_clear_evaluation_resolves() -> None:
    state, seen = run([W, W, None], for_=0, keep=0)
    assert kinds(seen) == [(0, "firing"), (2, "resolved")]
    assert state.status is AlertStatus.RESOLVED
    assert state.resolved_at == T0 + timedelta(minutes=2)
    assert seen[-1][1].previous_level is W


def test_keep_firing_for_rides_out_flapping_and_resolves_after_the_first_clear_evaluation() -> None:
    levels: list[Level | None] = [W, None, W, None, None, W, None, None, None, None]
    state, seen = run(levels, for_=0, keep=3)
    # Last breach at 5, first clear at 6: Prometheus' KeepFiringSince, so it resolves 3m later, at 9.
    assert kinds(seen) == [(0, "firing"), (9, "resolved")]
    assert state.status is AlertStatus.RESOLVED


def test_moving_to_critical_needs_its_own_for_then_raises_the_level() -> None:
    state, seen = run([W, W, W, C, C, C], for_=2)
    assert kinds(seen) == [(0, "pending"), (2, "firing"), (5, "level_raised")]
    raise_ = seen[-1][1]
    assert (raise_.previous_level, raise_.level) == (W, C)
    assert state.level is C
    assert state.critical_since == T0 + timedelta(minutes=3)


def test_a_one_evaluation_critical_spike_stays_a_warning() -> None:
    state, seen = run([W, W, W, C, W, W], for_=2)
    assert kinds(seen) == [(0, "pending"), (2, "firing")]
    assert state.level is W
    assert state.critical_since is None


def test_critical_for_the_whole_for_period_fires_straight_at_critical() -> None:
    state, seen = run([C, C, C], for_=2)
    assert kinds(seen) == [(0, "pending"), (2, "firing")]
    assert seen[-1][1].level is C
    assert state.level is C


def test_critical_lowers_to_warning_only_after_keep_firing_for() -> None:
    _, seen = run([C, C, W, W, W, W], for_=0, keep=2)
    assert kinds(seen) == [(0, "firing"), (4, "level_lowered")]  # critical clear since 2, for 2m
    assert (seen[-1][1].previous_level, seen[-1][1].level) == (C, W)


def test_a_clear_gap_inside_keep_firing_for_holds_the_level() -> None:
    state, seen = run([C, None, C], for_=0, keep=5)
    assert kinds(seen) == [(0, "firing")]
    assert state.level is C


def test_breaching_again_after_resolution_starts_a_new_episode() -> None:
    _, seen = run([W, None, W, W], for_=1)
    assert kinds(seen) == [(0, "pending"), (1, "cancelled"), (2, "pending"), (3, "firing")]
    resolved, seen = run([W, W, None, W], for_=1)
    assert kinds(seen) == [(0, "pending"), (1, "firing"), (2, "resolved"), (3, "pending")]
    assert resolved.status is AlertStatus.PENDING
    assert resolved.firing_since is None
    assert resolved.resolved_at is None


def test_replaying_an_observation_or_an_older_one_changes_nothing() -> None:
    state, _ = run([W, W], for_=1)
    assert state.status is AlertStatus.FIRING
    for minute in (1, 0):
        again, changes = step(
            state,
            Observation(T0 + timedelta(minutes=minute), C, 9.0),
            for_=timedelta(minutes=1),
            keep_firing_for=timedelta(0),
            interval=MINUTE,
        )
        assert again == state
        assert changes == []


def test_state_survives_a_restart_through_json_without_repaging_or_forgetting() -> None:
    pending, seen = run([W, W], for_=3)
    assert kinds(seen) == [(0, "pending")]
    restored = msgspec.json.decode(msgspec.json.encode(pending), type=AlertState)
    assert restored == pending
    # After the restart the `for` clock continues from minute 0: firing at 3, not at 2 + 3.
    firing, seen = run([W, W], for_=3, state=restored, start=2)
    assert kinds(seen) == [(3, "firing")]
    restored = msgspec.json.decode(msgspec.json.encode(firing), type=AlertState)
    _, seen = run([W, W], for_=3, state=restored, start=4)
    assert seen == []  # already firing: no second page


def test_observations_record_the_value_and_time() -> None:
    state, _ = step(
        AlertState(labels={"path": "/x"}),
        Observation(T0, W, 0.042),
        for_=timedelta(minutes=5),
        keep_firing_for=timedelta(0),
        interval=MINUTE,
    )
    assert state.value == 0.042
    assert state.updated_at == T0
    assert state.labels == {"path": "/x"}


def _drifting(
    levels: list[Level | None], *, for_: timedelta, keep: timedelta, interval: timedelta, drift: timedelta
) -> list[tuple[int, str]]:
    """Evaluations `interval` apart on paper, each a little early or late on the wall clock."""
    state = AlertState()
    seen: list[tuple[int, str]] = []
    start = T0 + timedelta(seconds=1, milliseconds=7)  # drifts stay inside their slot
    for number, level in enumerate(levels):
        at = start + interval * number + (drift if number % 2 else -drift)
        state, changes = step(
            state, Observation(at, level, 1.0), for_=for_, keep_firing_for=keep, interval=interval
        )
        seen.extend((number, change.kind.value) for change in changes)
    return seen


@pytest.mark.parametrize("drift_ms", [0, 3, 400])
def test_for_of_n_intervals_fires_at_the_nth_evaluation_whatever_the_clock_drift(drift_ms: int) -> None:
    interval = timedelta(seconds=15)
    seen = _drifting(
        [W] * 6,
        for_=timedelta(minutes=1),
        keep=timedelta(0),
        interval=interval,
        drift=timedelta(milliseconds=drift_ms),
    )
    assert seen == [(0, "pending"), (4, "firing")]  # 60.0 s after the first breach, as Prometheus


def test_a_for_between_two_intervals_rounds_up_to_the_next_evaluation() -> None:
    seen = _drifting(
        [W] * 6,
        for_=timedelta(seconds=50),
        keep=timedelta(0),
        interval=timedelta(seconds=15),
        drift=timedelta(0),
    )
    assert seen == [(0, "pending"), (4, "firing")]  # Prometheus: 45 s < 50 s <= 60 s


def test_keep_firing_for_counts_evaluations_from_the_first_clear_one_despite_drift() -> None:
    interval = timedelta(seconds=15)
    levels: list[Level | None] = [W, W, None, None, None, None, None]
    seen = _drifting(
        levels,
        for_=timedelta(0),
        keep=timedelta(seconds=45),
        interval=interval,
        drift=timedelta(milliseconds=5),
    )
    assert seen == [(0, "firing"), (5, "resolved")]  # clear since 2; 2 + 45 s / 15 s


def test_late_evaluations_count_the_slots_they_fall_in() -> None:
    """An evaluation that runs late in its slot still counts as that slot, as on Prometheus' grid."""
    interval = timedelta(seconds=15)
    first = T0 + timedelta(seconds=14, milliseconds=900)  # end of slot 0
    state, _ = step(
        AlertState(),
        Observation(first, W, 1.0),
        for_=interval * 2,
        keep_firing_for=timedelta(0),
        interval=interval,
    )
    state, changes = step(
        state,
        Observation(T0 + timedelta(seconds=30, milliseconds=1), W, 1.0),
        for_=interval * 2,
        keep_firing_for=timedelta(0),
        interval=interval,
    )
    assert [c.kind.value for c in changes] == ["firing"]


def test_default_grouping_puts_every_series_of_a_rule_and_service_in_one_incident() -> None:
    keys = {
        group_key("ApiErrorRate", ("alertname", "service"), {"service": "api", "path": f"/p/{i}"})
        for i in range(20_000)
    }
    assert keys == {'rules:{alertname="ApiErrorRate",service="api"}'}


def test_grouping_separates_services_and_rules() -> None:
    by = ("alertname", "service")
    a = group_key("R1", by, {"service": "api"})
    assert a != group_key("R1", by, {"service": "web"})
    assert a != group_key("R2", by, {"service": "api"})
    assert group_key("R1", by, {}) == 'rules:{alertname="R1",service=""}'


def test_group_by_a_label_set_without_alertname_joins_rules() -> None:
    by_service = ("service",)
    assert group_key("R1", by_service, {"service": "api"}) == group_key("R2", by_service, {"service": "api"})


def test_group_by_dots_gives_every_series_its_own_incident() -> None:
    a = group_key("R", ("...",), {"service": "api", "path": "/a"})
    b = group_key("R", ("...",), {"service": "api", "path": "/b"})
    assert a != b
    assert a == 'rules:{alertname="R",path="/a",service="api"}'


def test_group_keys_escape_quotes_and_stay_within_the_dedup_column() -> None:
    tricky = group_key("R", ("service",), {"service": 'a",service="b'})
    assert tricky == 'rules:{service="a\\",service=\\"b"}'
    long = group_key("R", ("...",), {f"l{i}": "x" * 50 for i in range(20)})
    assert len(long) <= 400
    assert long == group_key("R", ("...",), {f"l{i}": "x" * 50 for i in range(20)})
    assert long != group_key("R", ("...",), {f"l{i}": "y" * 50 for i in range(20)})


@pytest.mark.parametrize(
    ("labels", "key"),
    [({}, "{}"), ({"b": "2", "a": "1"}, '{a="1",b="2"}'), ({"q": 'x"y\n'}, '{q="x\\"y\\n"}')],
)
def test_series_keys_are_canonical(labels: dict[str, str], key: str) -> None:
    assert series_key(labels) == key


def test_incident_titles_name_the_problem_not_a_reading() -> None:
    from service.domain.alert_incidents import humanize

    assert humanize("ErrorRateHigh") == "Error rate high"
    assert humanize("APIDown") == "API down"
    assert humanize("disk_full") == "Disk full"


def test_count_readings_carry_the_noun_their_thresholds_use() -> None:
    from service.domain.alert_incidents import value_text
    from service.domain.rules import Comparison, Level, Rule, Signal, SignalKind
    from service.domain.severity import Severity
    from service.domain.units import UnitKind, parse_quantity

    def rule(unit: UnitKind, warning: str) -> Rule:
        signal = Signal(kind=SignalKind.GAUGE, source="s")
        return Rule(name="Q", group="g", signal=signal, comparison=Comparison.ABOVE, unit=unit,
                    warning=parse_quantity(warning), critical=None, for_=timedelta(0),
                    keep_firing_for=timedelta(0), severity={Level.WARNING: Severity.P3},
                    labels={}, annotations={})  # fmt: skip

    assert value_text(rule(UnitKind.COUNT, "50 jobs"), 260) == "260 jobs"
    assert value_text(rule(UnitKind.COUNT, "50"), 260) == "260"
    assert value_text(rule(UnitKind.PERCENT, "3%"), 0.042) == "4.2%"

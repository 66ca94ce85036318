"""Evaluate one rule against the current derived values: per-series level, new alert states, transitions.

Pure: the pipeline hands in numbers already derived by the collectors (a rate,
a ratio, a p95, a probe's value column) keyed by series labels, plus the states
it loaded; it gets back the states to store and the transitions to turn into
incidents. `rules test` runs this same function over a scripted timeline.

Missing data: a series that was breaching and is absent from `values` counts as
not breaching (it clears, then resolves after `keep_firing_for`); Prometheus
treats a vanished series the same way. A source that could not be read at all is
different: pass `values=None` and every state is held unchanged, so a scrape
timeout neither resolves incidents nor starts new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import msgspec

from service.domain.alerts import (
    AlertState,
    AlertStatus,
    AlertTransition,
    Observation,
    TransitionKind,
    group_key,
    series_key,
    step,
)
from service.domain.rules import GROUP_BY_ALL, Comparison, Level, Rule, Signal, SignalKind, render_annotations
from service.domain.severity import Severity

# The transitions the incident layer acts on; PENDING and CANCELLED change no incident.
TOLD = frozenset(
    {
        TransitionKind.FIRING,
        TransitionKind.LEVEL_RAISED,
        TransitionKind.LEVEL_LOWERED,
        TransitionKind.RESOLVED,
    }
)

# Like Prometheus: a resolved alert stays visible (and in the state table) for a while, then is dropped.
RESOLVED_RETENTION = timedelta(minutes=15)

SeriesValues = Iterable[tuple[Mapping[str, str], float]]


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One rule's alert for one series, as the incident layer, the API and `rules test` see it."""

    rule: str
    series: str
    labels: dict[str, str]  # the series' labels overlaid with the rule's (rule wins, as in Prometheus)
    group_key: str
    status: AlertStatus
    level: Level | None
    severity: Severity | None
    value: float | None
    annotations: dict[str, str]
    state: AlertState


class RuleTransition(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A state change with everything the incident layer needs to open, raise, mitigate or resolve."""

    kind: TransitionKind
    at: datetime
    rule: str
    series: str
    group_key: str
    labels: dict[str, str]
    level: Level | None
    previous_level: Level | None
    severity: Severity | None
    previous_severity: Severity | None
    value: float | None
    annotations: dict[str, str]  # empty unless `kind` is in TOLD
    auto_resolve: bool
    breach_since: datetime | None = None  # when the breach began (the `for` wait included)


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """What one evaluation decided. The alert view (`current_alerts`) is built on demand: rendering
    20,000 annotations every 30 seconds for nobody to read is most of an evaluation's cost."""

    rule: str
    at: datetime
    states: dict[str, AlertState]  # what to store, by series key; inactive and expired ones are dropped
    transitions: list[RuleTransition]
    group_keys: dict[str, str] = msgspec.field(default_factory=dict)  # each stored state's incident key


def alert_labels(rule: Rule, series_labels: Mapping[str, str]) -> dict[str, str]:
    return {**series_labels, **rule.labels}


def probe_rows(signal: Signal, rows: SeriesValues) -> list[tuple[Mapping[str, str], float]]:
    """Keep the probe rows a rule's `probe: name{label="v"}` selects (other signals arrive pre-filtered)."""
    if signal.kind is not SignalKind.PROBE or signal.metric is None:
        return list(rows)
    return [(labels, value) for labels, value in rows if signal.metric.matches(labels)]


def evaluate(
    rule: Rule,
    values: SeriesValues | None,
    previous: Mapping[str, AlertState],
    at: datetime,
    *,
    held: Sequence[Mapping[str, str]] = (),
) -> Evaluation:
    """`held` names scrape targets that could not be read ({job, instance}): a series of theirs that is
    missing from `values` keeps its state unchanged, like every series of an unreadable source."""
    states: dict[str, AlertState] = {}
    transitions: list[RuleTransition] = []
    keyer = GroupKeys(rule)
    if values is None:
        states = dict(previous)
        return Evaluation(
            rule=rule.name, at=at, states=states, transitions=[], group_keys=keyer.of_states(states)
        )
    seen: set[str] = set()
    level_for = _level_test(rule)
    quiet = _quiet_test(rule)
    known = {frozenset(state.labels.items()): key for key, state in previous.items()}
    for labels, value in values:
        if quiet is not None and quiet(value):
            if not known:
                continue  # the common case: a healthy series and a quiet rule cost one comparison
            # Which stored state is this healthy series? A label set is its key, so looking it up by
            # its items avoids writing out the key of every healthy series.
            found = known.get(frozenset(labels.items()))
            if found is None:
                continue
            key, level = found, None
        else:
            level = level_for(value)
            if level is None and not known:
                continue
            key = series_key(labels)
        if key in seen:
            continue  # one step per series per evaluation, whatever the input repeats
        seen.add(key)
        before = previous.get(key)
        if before is None and level is None:
            continue
        start = before or AlertState(labels=dict(labels))
        _advance(rule, key, start, Observation(at, level, value), states, transitions, keyer)
    for key, before in previous.items():
        if key in seen:
            continue
        if held and any(all(before.labels.get(k) == v for k, v in h.items()) for h in held):
            states[key] = before
            continue
        _advance(rule, key, before, Observation(at, None, None), states, transitions, keyer)
    states = {key: state for key, state in states.items() if _worth_keeping(state, at)}
    return Evaluation(
        rule=rule.name, at=at, states=states, transitions=transitions, group_keys=keyer.of_states(states)
    )


class GroupKeys:
    """`group_key` of one rule's series, written out once per distinct value of the grouping labels:
    20,000 breaching series of a rule grouped by service share one key, not 20,000 copies of it."""

    def __init__(self, rule: Rule) -> None:
        self._rule = rule
        names = list(rule.group_by)
        self._all = GROUP_BY_ALL in names
        self._varying = tuple(n for n in names if n != "alertname" and n not in rule.labels)
        self._memo: dict[tuple[str | None, ...], str] = {}

    def __call__(self, series_labels: Mapping[str, str]) -> str:
        rule = self._rule
        if self._all:
            return group_key(rule.alertname, rule.group_by, alert_labels(rule, series_labels))
        varying = self._varying
        if not varying:
            values: tuple[str | None, ...] = ()
        elif len(varying) == 1:
            values = (series_labels.get(varying[0]),)
        else:
            values = tuple([series_labels.get(name) for name in varying])
        key = self._memo.get(values)
        if key is None:
            key = group_key(rule.alertname, rule.group_by, alert_labels(rule, series_labels))
            self._memo[values] = key
        return key

    def of_states(self, states: Mapping[str, AlertState]) -> dict[str, str]:
        return {key: self(state.labels) for key, state in states.items()}


def _quiet_test(rule: Rule) -> Callable[[float], bool] | None:
    """True for a value that cannot breach either threshold (one comparison, the common case);
    None when any value may breach (a Prometheus alert). NaN is never quiet here: `level_for` decides."""
    if rule.prometheus is not None:
        return None
    limits = [q.value for q in (rule.warning, rule.critical) if q is not None]
    if not limits:
        return lambda _: True
    if rule.comparison is Comparison.ABOVE:
        lowest = min(limits)
        return lambda value: value <= lowest
    highest = max(limits)
    return lambda value: value >= highest


def _level_test(rule: Rule) -> Callable[[float], Level | None]:
    """`rule.level_for` specialised once per evaluation: it runs for every series."""
    if rule.prometheus is not None:
        fixed = rule.prometheus.level
        return lambda _: fixed  # a Prometheus alert is every series its expr returns, NaN included
    warning = rule.warning.value if rule.warning is not None else None
    critical = rule.critical.value if rule.critical is not None else None
    above = rule.comparison is Comparison.ABOVE
    crit, warn = Level.CRITICAL, Level.WARNING

    def level(value: float) -> Level | None:  # NaN compares false both ways: it breaches nothing
        if above:
            if critical is not None and value > critical:
                return crit
            if warning is not None and value > warning:
                return warn
            return None
        if critical is not None and value < critical:
            return crit
        if warning is not None and value < warning:
            return warn
        return None

    return level


def current_alerts(rule: Rule, states: Mapping[str, AlertState]) -> list[Alert]:
    """The rule's pending, firing and recently resolved alerts, ordered by series, for the API and tests."""
    return [
        make_alert(rule, key, state)
        for key, state in sorted(states.items())
        if state.status is not AlertStatus.INACTIVE
    ]


def _advance(
    rule: Rule,
    key: str,
    state: AlertState,
    observation: Observation,
    states: dict[str, AlertState],
    transitions: list[RuleTransition],
    keyer: GroupKeys,
) -> None:
    new, changes = step(
        state, observation, for_=rule.for_, keep_firing_for=rule.keep_firing_for, interval=rule.interval
    )
    states[key] = new
    transitions.extend(describe(rule, key, new, change, keyer) for change in changes)


def _worth_keeping(state: AlertState, now: datetime) -> bool:
    if state.status is AlertStatus.INACTIVE:
        return False
    if state.status is AlertStatus.RESOLVED:
        return state.resolved_at is not None and now - state.resolved_at < RESOLVED_RETENTION
    return True


def _severity(rule: Rule, level: Level | None) -> Severity | None:
    return rule.severity_for(level) if level is not None else None


def make_alert(rule: Rule, key: str, state: AlertState) -> Alert:
    labels = alert_labels(rule, state.labels)
    return Alert(
        rule=rule.name,
        series=key,
        labels=labels,
        group_key=group_key(rule.alertname, rule.group_by, labels),
        status=state.status,
        level=state.level,
        severity=_severity(rule, state.level),
        value=state.value,
        annotations=render_annotations(rule, labels, state.value, state.level),
        state=state,
    )


def describe(
    rule: Rule, key: str, state: AlertState, change: AlertTransition, keyer: GroupKeys | None = None
) -> RuleTransition:
    """Annotations are rendered only for the transitions that reach people (`TOLD`): a series going
    pending or cancelling tells nobody, and the alert view renders its own (`make_alert`)."""
    labels = alert_labels(rule, state.labels)
    shown_level = change.level or change.previous_level
    told = change.kind in TOLD
    return RuleTransition(
        kind=change.kind,
        at=change.at,
        rule=rule.name,
        series=key,
        group_key=(keyer or GroupKeys(rule))(state.labels),
        labels=labels,
        level=change.level,
        previous_level=change.previous_level,
        severity=_severity(rule, change.level),
        previous_severity=_severity(rule, change.previous_level),
        value=change.value,
        annotations=render_annotations(rule, labels, change.value, shown_level) if told else {},
        auto_resolve=rule.auto_resolve,
        breach_since=state.breach_since,
    )


def group_transitions(transitions: Iterable[RuleTransition]) -> dict[str, list[RuleTransition]]:
    """Transitions by incident (group key), in order: one incident per key however many series breach."""
    grouped: dict[str, list[RuleTransition]] = {}
    for transition in transitions:
        grouped.setdefault(transition.group_key, []).append(transition)
    return grouped

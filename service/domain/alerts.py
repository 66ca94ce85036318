"""Alert state per (rule, series) as a pure state machine, and the key that groups alerts into incidents.

    inactive --breach--> pending --held for `for`--> firing --clear for `keep_firing_for`--> resolved
                           |                           |  warning <-> critical while firing
                           +--clears--> inactive       +  is a level change the incident layer
                                                          turns into a severity change

The state records *since when* each condition has held, not a countdown, so a
restarted service that loads it from PostgreSQL neither pages again for an
alert already firing nor starts the `for` clock over. Each level must hold for
`for` on its own: a warning that spikes to critical for one evaluation stays a
warning, the way two Prometheus rules with the same `for` would behave.

Durations are counted in evaluation slots (`slot_of`), not compared as
wall-clock differences: Prometheus evaluates on an exact grid, so `for: 1m` at a
15 s interval fires at the 4th evaluation after the first breaching one, while
wall-clock evaluation times that drift by a millisecond would make it the 5th.
`keep_firing_for` counts from the first clear evaluation, as Prometheus'
`KeepFiringSince` does.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import msgspec

from service.domain.rules import GROUP_BY_ALL, Level

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MIN_INTERVAL = timedelta(seconds=1)


def slot_of(at: datetime, interval: timedelta) -> int:
    """Which evaluation slot `at` falls in: floor(epoch / interval), in whole microseconds so that
    a time stored in PostgreSQL and read back lands in the same slot."""
    return ((at - _EPOCH) // _MICROSECOND) // _step(interval)


@functools.lru_cache(maxsize=64)
def slots_for(duration: timedelta, interval: timedelta) -> int:
    """Evaluations a duration spans: Prometheus' `ts - since >= for` on its grid is
    `slots >= ceil(for / interval)`."""
    return -(-(duration // _MICROSECOND) // _step(interval))


@functools.lru_cache(maxsize=64)
def _step(interval: timedelta) -> int:
    """An interval in microseconds (at least MIN_INTERVAL): asked for every series on every evaluation."""
    return max(interval, MIN_INTERVAL) // _MICROSECOND


class AlertStatus(enum.StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class AlertState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Everything needed to continue the machine after a restart; stored as-is (see migration 002)."""

    labels: dict[str, str] = msgspec.field(default_factory=dict)
    status: AlertStatus = AlertStatus.INACTIVE
    level: Level | None = None
    value: float | None = None
    breach_since: datetime | None = None  # start of the current unbroken breach, any level
    critical_since: datetime | None = None  # start of the current unbroken critical breach
    last_breach_at: datetime | None = None
    last_critical_at: datetime | None = None
    firing_since: datetime | None = None
    resolved_at: datetime | None = None
    updated_at: datetime | None = None


class Observation(msgspec.Struct, frozen=True, gc=False):
    """One evaluation of one series: `level` None means not breaching, including a missing series."""

    at: datetime
    level: Level | None
    value: float | None = None


class TransitionKind(enum.StrEnum):
    PENDING = "pending"
    CANCELLED = "cancelled"  # pending, then cleared before `for` elapsed: nobody is told
    FIRING = "firing"
    LEVEL_RAISED = "level_raised"  # warning -> critical while firing
    LEVEL_LOWERED = "level_lowered"
    RESOLVED = "resolved"


class AlertTransition(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    kind: TransitionKind
    at: datetime
    level: Level | None
    previous_level: Level | None = None
    value: float | None = None


def step(
    state: AlertState,
    observation: Observation,
    *,
    for_: timedelta,
    keep_firing_for: timedelta,
    interval: timedelta,
) -> tuple[AlertState, list[AlertTransition]]:
    """Advance one series by one evaluation. Re-applying an observation at or before the last is a no-op,
    so two replicas or a retried evaluation cannot produce a second page."""
    now, level = observation.at, observation.level
    slot = slot_of(now, interval)
    need = slots_for(for_, interval)
    keep = slots_for(keep_firing_for, interval)

    def quiet(last: datetime | None) -> int | None:
        """Clear evaluations since `last` breached (the first clear one counts as 0)."""
        return None if last is None else slot - slot_of(last, interval) - 1

    if state.updated_at is not None and now <= state.updated_at:
        return state, []
    breaching = level is not None
    critical = level is Level.CRITICAL
    breach_since = (state.breach_since or now) if breaching else None
    critical_since = (state.critical_since or now) if critical else None
    moved = msgspec.structs.replace(
        state,
        value=observation.value,
        breach_since=breach_since,
        critical_since=critical_since,
        last_breach_at=now if breaching else state.last_breach_at,
        last_critical_at=now if critical else state.last_critical_at,
        updated_at=now,
    )
    held = breach_since is not None and slot - slot_of(breach_since, interval) >= need
    critical_held = critical_since is not None and slot - slot_of(critical_since, interval) >= need

    def transition(kind: TransitionKind, new: Level | None, old: Level | None = None) -> AlertTransition:
        return AlertTransition(kind=kind, at=now, level=new, previous_level=old, value=observation.value)

    if state.status in (AlertStatus.INACTIVE, AlertStatus.RESOLVED):
        if not breaching:
            return moved, []
        if held:
            fired = Level.CRITICAL if critical_held else Level.WARNING
            new = msgspec.structs.replace(
                moved, status=AlertStatus.FIRING, level=fired, firing_since=now, resolved_at=None
            )
            return new, [transition(TransitionKind.FIRING, fired)]
        new = msgspec.structs.replace(
            moved, status=AlertStatus.PENDING, level=level, firing_since=None, resolved_at=None
        )
        return new, [transition(TransitionKind.PENDING, level)]

    if state.status is AlertStatus.PENDING:
        if not breaching:
            new = msgspec.structs.replace(moved, status=AlertStatus.INACTIVE, level=None)
            return new, [transition(TransitionKind.CANCELLED, None, state.level)]
        if held:
            fired = Level.CRITICAL if critical_held else Level.WARNING
            new = msgspec.structs.replace(moved, status=AlertStatus.FIRING, level=fired, firing_since=now)
            return new, [transition(TransitionKind.FIRING, fired, state.level)]
        return msgspec.structs.replace(moved, level=level), []

    # Firing.
    quiet_for = quiet(moved.last_breach_at)
    if not breaching and (quiet_for is None or quiet_for >= keep):
        new = msgspec.structs.replace(moved, status=AlertStatus.RESOLVED, resolved_at=now)
        return new, [transition(TransitionKind.RESOLVED, state.level, state.level)]
    critical_quiet = quiet(moved.last_critical_at)
    recently_critical = critical_quiet is not None and critical_quiet < keep
    new_level = _firing_level(state.level, level, critical_held, recently_critical)
    new = msgspec.structs.replace(moved, level=new_level)
    if new_level is state.level or new_level is None or state.level is None:
        return new, []
    kind = TransitionKind.LEVEL_RAISED if new_level.rank > state.level.rank else TransitionKind.LEVEL_LOWERED
    return new, [transition(kind, new_level, state.level)]


def _firing_level(
    current: Level | None, observed: Level | None, critical_held: bool, recently_critical: bool
) -> Level | None:
    if critical_held:
        return Level.CRITICAL
    if observed is None:
        return current  # inside keep_firing_for: hold whatever level was firing
    if current is Level.CRITICAL and recently_critical:
        return Level.CRITICAL
    return Level.WARNING


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_key(labels: Mapping[str, str]) -> str:
    """Canonical text of a label set, stable across runs: the identity of a series within its rule.

    Called for every series on every evaluation, so values needing no escape skip `_quote`."""
    parts = []
    for name in sorted(labels):
        value = labels[name]
        if '"' in value or "\\" in value or "\n" in value:
            value = _quote(value)
        parts.append(f'{name}="{value}"')
    return "{" + ",".join(parts) + "}"


_MAX_KEY = 400  # incidents.dedup_key allows 512


def group_key(rule_name: str, group_by: Iterable[str], labels: Mapping[str, str]) -> str:
    """The incident dedup key for an alert: Alertmanager's grouping, so 20,000 breaching series of one rule
    and service become one incident with many alerts. `alertname` stands for the rule's name; a missing
    label groups as empty; `...` puts every series in a group of its own."""
    names = list(group_by)
    if GROUP_BY_ALL in names:
        names = ["alertname", *sorted(n for n in labels if n != "alertname")]
    parts = []
    for name in names:
        value = rule_name if name == "alertname" else labels.get(name, "")
        parts.append(f'{name}="{_quote(value)}"')
    key = "rules:{" + ",".join(parts) + "}"
    if len(key) <= _MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: _MAX_KEY - 18]}~{digest}"

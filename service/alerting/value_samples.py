"""A short value history per alert group, for the charts people read after an incident.

The evaluator hands every rule's states to `ValueSampler.observe` and writes what it kept with one
INSERT per batch (`flush`). A rule has states only while one of its series breaches or recently
did (pending, firing, resolved and kept), so a healthy rule costs nothing. Each (group, rule) gets
at most one row per bucket; buckets widen as a run ages (15 s for the first hour, 1 min until 6 h,
5 min after), so a long incident stays a few thousand rows. Buckets start on fixed multiples of
their width, so two replicas sampling the same bucket write one row (the second is ignored).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import asyncpg

from service.domain.alerts import AlertState
from service.domain.rules import Comparison, Rule

_TIERS = ((timedelta(hours=1), 15), (timedelta(hours=6), 60))
_WIDEST = 300


def bucket_width(age: timedelta) -> int:
    for limit, width in _TIERS:
        if age < limit:
            return width
    return _WIDEST


class ValueSampler:
    """Per-process memory of which buckets were written; losing it (a restart) only costs a duplicate
    insert that the primary key ignores."""

    def __init__(self) -> None:
        self._runs: dict[str, dict[str, tuple[datetime, int]]] = {}  # rule -> group -> (since, bucket)
        self._rows: list[tuple[str, str, datetime, float]] = []

    def observe(
        self, rule: Rule, states: Mapping[str, AlertState], keys: Mapping[str, str], now: datetime
    ) -> None:
        worst: dict[str, float] = {}
        pick = max if rule.comparison is Comparison.ABOVE else min
        for series, state in states.items():
            value = state.value
            if value is None or not math.isfinite(value):
                continue
            group = keys.get(series)
            if group is None:
                continue
            worst[group] = pick(worst[group], value) if group in worst else value
        before = self._runs.get(rule.name, {})
        runs: dict[str, tuple[datetime, int]] = {}
        epoch = int(now.timestamp())
        for group, value in worst.items():
            since, last = before.get(group, (now, -1))
            width = bucket_width(now - since)
            bucket = epoch - epoch % width
            if bucket != last:
                self._rows.append((group, rule.name, datetime.fromtimestamp(bucket, UTC), value))
            runs[group] = (since, bucket)
        if runs:
            self._runs[rule.name] = runs
        else:
            self._runs.pop(rule.name, None)

    def pending_rows(self) -> list[tuple[str, str, datetime, float]]:
        """What the next flush writes: (group, rule, bucket start, value)."""
        return list(self._rows)

    async def flush(self, conn: asyncpg.Connection) -> int:
        rows, self._rows = self._rows, []
        if not rows:
            return 0
        groups, rules, ats, values = (list(column) for column in zip(*rows, strict=True))
        await conn.execute(
            "INSERT INTO alert_value_samples (group_key, rule, at, value)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[])"
            " ON CONFLICT DO NOTHING",
            groups,
            rules,
            ats,
            values,
        )
        return len(rows)

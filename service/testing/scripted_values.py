"""A scripted stand-in for the collector: tests and benchmarks say what each rule reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec

from service.domain.rules import Rule

SeriesRows = list[tuple[dict[str, str], float]]


class ScriptedStatus(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    kind: str = "scrape"
    ok: bool = True
    error: str | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)


class ScriptedCollection(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    values: dict[str, SeriesRows | None]
    statuses: list[ScriptedStatus]
    held: dict[str, list[dict[str, str]]] = msgspec.field(default_factory=dict)


class ScriptedSource:
    """Rows per rule name; a rule set to None reads as "source unreadable"."""

    def __init__(self) -> None:
        self.rows: dict[str, SeriesRows | None] = {}
        self.statuses: list[ScriptedStatus] = []
        self.calls: list[tuple[datetime, list[str]]] = []

    def set(self, rule: str, rows: SeriesRows | None) -> None:
        self.rows[rule] = rows

    def set_value(self, rule: str, value: float | None, labels: Mapping[str, str] | None = None) -> None:
        self.rows[rule] = None if value is None else [(dict(labels or {}), value)]

    async def collect(self, rules: Sequence[Rule], now: datetime) -> ScriptedCollection:
        self.calls.append((now, [r.name for r in rules]))
        return ScriptedCollection(
            at=now,
            values={r.name: self.rows.get(r.name, []) for r in rules},
            statuses=list(self.statuses),
        )

    async def close(self) -> None:
        return None

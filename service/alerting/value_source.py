"""What the evaluator needs from collection; `service.sources.collector.Collector` is the real one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from service.alerting.source_health import SourceHealth
from service.domain.rules import Rule

SeriesRows = list[tuple[dict[str, str], float]]
Work = tuple[Rule, SeriesRows | None, str | None]  # rule, its values (None: unreadable), source error


class CollectionLike(Protocol):
    @property
    def values(self) -> Mapping[str, SeriesRows | None]: ...
    @property
    def statuses(self) -> Sequence[SourceHealth]: ...
    @property
    def held(self) -> Mapping[str, Sequence[Mapping[str, str]]]: ...


class ValueSource(Protocol):
    async def collect(self, rules: Sequence[Rule], now: datetime) -> CollectionLike: ...
    async def close(self) -> None: ...

"""Feeding the "series missing" companion rules (service.domain.absence) from one collection.

A companion reads the same signal as the rule it watches, so the collector reads
that source once for both; here its derived rows are replaced by the companion's
own series: one while the signal returns nothing, none while it returns any. While
a source, or any target of it, cannot be read, the companion's state is held:
SourceDown reports that, and the series may well be on the silent target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from service.alerting.source_health import SourceHealth
from service.alerting.value_source import CollectionLike, SeriesRows
from service.domain.absence import absence_rows
from service.domain.rules import Rule


class AbsenceAware:
    """A collection whose companion rules see their own series instead of the watched signal's."""

    def __init__(self, inner: CollectionLike, values: Mapping[str, SeriesRows | None]) -> None:
        self._inner = inner
        self._values = values

    @property
    def values(self) -> Mapping[str, SeriesRows | None]:
        return self._values

    @property
    def statuses(self) -> Sequence[SourceHealth]:
        return self._inner.statuses

    @property
    def held(self) -> Mapping[str, Sequence[Mapping[str, str]]]:
        return self._inner.held


def with_absence(rules: Sequence[Rule], collection: CollectionLike) -> CollectionLike:
    companions = [rule for rule in rules if rule.absence_of is not None]
    if not companions:
        return collection
    values = dict(collection.values)
    for rule in companions:
        # A target that did not answer may hold the series: "missing" is said only when all answered.
        rows = None if collection.held.get(rule.name) else collection.values.get(rule.name)
        values[rule.name] = absence_rows(rule, rows)
    return AbsenceAware(collection, values)

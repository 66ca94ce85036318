"""The recent samples of one scrape target, kept in memory so counters can be turned into rates.

A rate needs at least two scrapes inside its window, so each target keeps the
series its rules read (and nothing else) for as long as the longest window of
those rules. This is a cache of the target's own counters, not a time-series
database: after a restart, rates, ratios and quantiles are simply unavailable
until two scrapes have landed inside the window (their rules get no value, which
is not a breach, and does not clear what was firing: the collector reports them as
unreadable until two scrapes are in, so their alert states are held), while
gauges work from the first scrape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SeriesKey = frozenset[tuple[str, str]]


class SeriesPoints:
    """One series: its labels (as scraped) and its (scrape time, value) points, oldest first."""

    __slots__ = ("labels", "points")

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = labels
        self.points: list[tuple[float, float]] = []

    def within(self, start: float, end: float) -> list[tuple[float, float]]:
        return [point for point in self.points if start <= point[0] <= end]


class ScrapeHistory:
    """Series by metric name, then by label set; times are POSIX seconds of the scrape."""

    def __init__(self) -> None:
        self._series: dict[str, dict[SeriesKey, SeriesPoints]] = {}
        self.last_at: float | None = None
        self.scrapes = 0  # successful scrapes recorded since this history began (process start, new source)

    def add(
        self, at: float, samples: Iterable[tuple[str, Mapping[str, str], float]], keep_for: float
    ) -> None:
        """Record one successful scrape and forget points older than `keep_for` seconds before it."""
        by_name = self._series
        for name, labels, value in samples:
            series = by_name.get(name)
            if series is None:
                series = by_name[name] = {}
            key = frozenset(labels.items())
            points = series.get(key)
            if points is None:
                points = series[key] = SeriesPoints(labels)
            elif points.points and points.points[-1][0] >= at:
                points.points.pop()  # a second sample at the same time replaces the first
            points.points.append((at, value))
        self.last_at = at
        self.scrapes += 1
        self._forget(at - keep_for)

    def _forget(self, before: float) -> None:
        for name in list(self._series):
            series = self._series[name]
            for key in list(series):
                points = series[key].points
                if points[-1][0] < before:
                    del series[key]
                    continue
                drop = 0
                while drop < len(points) - 1 and points[drop][0] < before:
                    drop += 1
                if drop:
                    del points[:drop]
            if not series:
                del self._series[name]

    def series(self, name: str) -> Iterable[SeriesPoints]:
        return self._series.get(name, {}).values()

    def __len__(self) -> int:
        return sum(len(series) for series in self._series.values())

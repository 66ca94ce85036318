"""From scraped samples to the numbers a rule compares: gauge, rate, ratio of rates, histogram quantile.

Pure functions over a target's `ScrapeHistory`, with the semantics of PromQL in
Prometheus 2.x (the rules README lists where we differ):

- `rate` is `rate(x[window])`: the increase between the first and the last
  point of the window `[at - window, at]` (a drop is a counter reset, so the new
  value counts in full), extrapolated to the window's edges the way Prometheus'
  `extrapolatedRate` does (by the gap to an edge when it is under 1.1 average
  scrape intervals, otherwise by half an interval; never below the counter's
  zero point), divided by the window. Fewer than two points: no value.
- `ratio` is `sum by (..) (rate(num)) / sum by (..) (rate(den))`: a group
  needs both sides (a numerator with no series is no value, not 0); 0/0 is no
  value (PromQL's NaN, which breaches nothing) and x/0 is +Inf.
- `quantile` is `histogram_quantile(q, sum by (.., le) (rate(x_bucket)))`.
- `gauge` is an instant selector: the latest value of each series present in
  the latest scrape (a series gone from a scrape is stale at once, as
  Prometheus' staleness markers make it), and nothing when that scrape is more
  than 5 minutes old (PromQL's lookback).

Summed results carry the `by` labels plus the target's static labels ("one
series per source" when there is no `by`). Static labels win over scraped ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import timedelta

from service.domain.rules import Selector, Signal, SignalKind
from service.domain.scrape_history import ScrapeHistory, SeriesPoints

Row = tuple[dict[str, str], float]
_GroupKey = tuple[str, ...]


def needed_metrics(signal: Signal) -> tuple[list[str], float]:
    """The metric names a scrape signal reads and how many seconds of history it needs."""
    window = signal.window.total_seconds() if signal.window is not None else 0.0
    if signal.kind is SignalKind.GAUGE and signal.metric is not None:
        return [signal.metric.name], 0.0
    if signal.kind is SignalKind.RATE and signal.metric is not None:
        return [signal.metric.name], window
    if signal.kind is SignalKind.RATIO and signal.numerator is not None and signal.denominator is not None:
        return [signal.numerator.name, signal.denominator.name], window
    if signal.kind is SignalKind.QUANTILE and signal.metric is not None:
        return [bucket_name(signal.metric.name)], window
    return [], 0.0


def bucket_name(histogram: str) -> str:
    return histogram if histogram.endswith("_bucket") else f"{histogram}_bucket"


def derive(signal: Signal, history: ScrapeHistory, at: float, static: Mapping[str, str]) -> list[Row]:
    """The rule's rows at time `at` (POSIX seconds) from one target's history."""
    window = signal.window or timedelta(0)
    start = at - window.total_seconds()
    by = signal.by or ()
    if signal.kind is SignalKind.GAUGE and signal.metric is not None:
        if history.last_at is None or at - history.last_at > LOOKBACK:
            return []
        return gauge(history.series(signal.metric.name), signal.metric, history.last_at, static)
    if signal.kind is SignalKind.RATE and signal.metric is not None:
        return rate(history.series(signal.metric.name), signal.metric, start, at, by, static)
    if signal.kind is SignalKind.RATIO and signal.numerator is not None and signal.denominator is not None:
        return ratio(
            history.series(signal.numerator.name),
            signal.numerator,
            history.series(signal.denominator.name),
            signal.denominator,
            start,
            at,
            by,
            static,
        )
    if signal.kind is SignalKind.QUANTILE and signal.metric is not None and signal.quantile is not None:
        buckets = history.series(bucket_name(signal.metric.name))
        return quantile(buckets, signal.metric, signal.quantile, start, at, by, static)
    raise ValueError(f"{signal.kind} signals are not derived from scrapes")


def gauge(
    series: Iterable[SeriesPoints], selector: Selector, latest: float, static: Mapping[str, str]
) -> list[Row]:
    """The latest value of every matching series that was present in the latest scrape."""
    rows: list[Row] = []
    for item in series:
        time, value = item.points[-1]
        if time == latest and selector.matches(item.labels):
            rows.append(({**item.labels, **static} if static else dict(item.labels), value))
    return rows


LOOKBACK = 300.0  # seconds: PromQL's default lookback delta, after which an instant value is stale


def counter_rate(points: list[tuple[float, float]], start: float, end: float) -> float | None:
    """PromQL `rate()` over the points of the window `[start, end]` (already cut to it).

    None with fewer than two points, like Prometheus, which drops the series from the result.
    NaN values are skipped, as Prometheus skips staleness markers inside a range.
    """
    usable = [point for point in points if not math.isnan(point[1])]
    if len(usable) < 2 or end <= start:
        return None
    first_at, first = usable[0]
    last_at = usable[-1][0]
    sampled = last_at - first_at
    if sampled <= 0:
        return None
    increase = usable[-1][1] - first
    previous = first
    for _, value in usable[1:]:
        if value < previous:
            increase += previous  # a reset: the counter restarted from zero
        previous = value
    to_start = first_at - start
    to_end = end - last_at
    average = sampled / (len(usable) - 1)
    if increase > 0 and first >= 0:
        to_start = min(to_start, sampled * (first / increase))  # not before the counter was zero
    threshold = average * 1.1
    covered = sampled
    covered += to_start if to_start < threshold else average / 2
    covered += to_end if to_end < threshold else average / 2
    return increase * (covered / sampled) / (end - start)


def _group(labels: Mapping[str, str], by: tuple[str, ...], static: Mapping[str, str]) -> _GroupKey:
    return tuple(static.get(name) or labels.get(name, "") for name in by)


def _group_labels(key: _GroupKey, by: tuple[str, ...], static: Mapping[str, str]) -> dict[str, str]:
    labels = {name: value for name, value in zip(by, key, strict=True) if value}
    labels.update(static)
    return labels


def summed_rates(
    series: Iterable[SeriesPoints],
    selector: Selector,
    start: float,
    end: float,
    by: tuple[str, ...],
    static: Mapping[str, str],
) -> dict[_GroupKey, float]:
    sums: dict[_GroupKey, float] = {}
    for item in series:
        if not selector.matches(item.labels):
            continue
        value = counter_rate(item.within(start, end), start, end)
        if value is None:
            continue
        key = _group(item.labels, by, static)
        sums[key] = sums.get(key, 0.0) + value
    return sums


def rate(
    series: Iterable[SeriesPoints],
    selector: Selector,
    start: float,
    end: float,
    by: tuple[str, ...],
    static: Mapping[str, str],
) -> list[Row]:
    sums = summed_rates(series, selector, start, end, by, static)
    return [(_group_labels(key, by, static), value) for key, value in sums.items()]


def ratio(
    numerator_series: Iterable[SeriesPoints],
    numerator: Selector,
    denominator_series: Iterable[SeriesPoints],
    denominator: Selector,
    start: float,
    end: float,
    by: tuple[str, ...],
    static: Mapping[str, str],
) -> list[Row]:
    tops = summed_rates(numerator_series, numerator, start, end, by, static)
    bottoms = summed_rates(denominator_series, denominator, start, end, by, static)
    rows: list[Row] = []
    for key, bottom in bottoms.items():
        top = tops.get(key)
        if top is None:
            continue  # no numerator series: PromQL's division has no match, so no value
        if bottom == 0:
            if top == 0 or math.isnan(top):
                continue  # no traffic: 0/0 is NaN in PromQL, no value here; either way never a breach
            rows.append((_group_labels(key, by, static), math.copysign(math.inf, top)))
            continue
        rows.append((_group_labels(key, by, static), top / bottom))
    return rows


def quantile(
    buckets: Iterable[SeriesPoints],
    selector: Selector,
    q: float,
    start: float,
    end: float,
    by: tuple[str, ...],
    static: Mapping[str, str],
) -> list[Row]:
    groups: dict[_GroupKey, dict[float, float]] = {}
    for item in buckets:
        bound_text = item.labels.get("le")
        if bound_text is None or not selector.matches(item.labels):
            continue
        try:
            bound = float(bound_text)
        except ValueError:
            continue
        value = counter_rate(item.within(start, end), start, end)
        if value is None:
            continue
        per_bound = groups.setdefault(_group(item.labels, by, static), {})
        per_bound[bound] = per_bound.get(bound, 0.0) + value
    rows: list[Row] = []
    for key, per_bound in groups.items():
        result = histogram_quantile(q, sorted(per_bound.items()))
        if result is not None:
            rows.append((_group_labels(key, by, static), result))
    return rows


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """PromQL's histogram_quantile (Prometheus 2.x `bucketQuantile`) over (upper bound, cumulative count),
    sorted by bound with one entry per bound; None where PromQL gives NaN.

    None when there is no +Inf bucket, fewer than two buckets, or no observations (no traffic).
    """
    if math.isnan(q):
        return None
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return None
    counts: list[float] = []
    for _, count in buckets:  # ensureMonotonic: rates of separate series can jitter
        counts.append(max(count, counts[-1]) if counts else count)
    observations = counts[-1]
    if observations <= 0 or math.isnan(observations):
        return None
    rank = q * observations
    index = next(i for i, count in enumerate(counts) if count >= rank)
    if index == len(buckets) - 1:
        return buckets[-2][0]
    upper = buckets[index][0]
    if index == 0 and upper <= 0:
        return upper
    lower = 0.0
    count = counts[index]
    if index > 0:
        lower = buckets[index - 1][0]
        count -= counts[index - 1]
        rank -= counts[index - 1]
    if count == 0:
        return None  # 0/0 in PromQL: NaN
    return lower + (upper - lower) * (rank / count)

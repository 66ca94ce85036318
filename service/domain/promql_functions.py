"""PromQL's range-vector and math functions as Prometheus 2.x computes them, for promql_eval.

`rate`, `increase` and `delta` follow Prometheus' `extrapolatedRate`: the
change between the first and last sample in the range, counter resets added
back, extrapolated towards the range's edges unless a sample is missing there
(more than 1.1 average intervals away), and never below a counter's zero.
"""

from __future__ import annotations

import calendar
import itertools
import math
from collections.abc import Callable
from datetime import UTC, datetime

Points = list[tuple[float, float]]


def _extrapolated(
    points: Points, start: float, end: float, *, counter: bool, per_second: bool
) -> float | None:
    """Prometheus 2.x `extrapolatedRate`: rate, increase and delta."""
    if len(points) < 2:
        return None
    result = points[-1][1] - points[0][1]
    if counter:
        last = 0.0
        for _, value in points:
            if value < last:
                result += last
            last = value
    to_start = points[0][0] - start
    to_end = end - points[-1][0]
    sampled = points[-1][0] - points[0][0]
    average = sampled / (len(points) - 1)
    if counter and result > 0 and points[0][1] >= 0:
        to_zero = sampled * (points[0][1] / result)
        to_start = min(to_start, to_zero)
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    factor = interval / sampled
    if per_second:
        factor /= end - start
    return result * factor  # in this order, as Prometheus rounds


def _instant_delta(points: Points, *, rate: bool) -> float | None:
    if len(points) < 2:
        return None
    (t0, v0), (t1, v1) = points[-2], points[-1]
    change = v1 if rate and v1 < v0 else v1 - v0
    return change / (t1 - t0) if rate else change


def _regression(points: Points, at: float) -> tuple[float, float]:
    if all(v == points[0][1] for _, v in points):
        return (math.nan, math.nan) if math.isinf(points[0][1]) else (0.0, points[0][1])
    n = float(len(points))
    xs = [t - at for t, _ in points]
    ys = [v for _, v in points]
    sum_x, sum_y = math.fsum(xs), math.fsum(ys)
    cov = math.fsum(x * y for x, y in zip(xs, ys, strict=True)) - sum_x * sum_y / n
    var = math.fsum(x * x for x in xs) - sum_x * sum_x / n
    slope = cov / var
    return slope, sum_y / n - slope * sum_x / n


def predict_linear(points: Points, at: float, ahead: float) -> float:
    slope, intercept = _regression(points, at)
    return intercept + slope * ahead


def _resets(points: Points) -> float:
    return float(sum(1 for a, b in itertools.pairwise(points) if b[1] < a[1]))


def _changes(points: Points) -> float:
    return float(sum(1 for a, b in itertools.pairwise(points) if b[1] != a[1]))


RangeFunction = Callable[[Points, float, float], float | None]
RANGE_FUNCTIONS: dict[str, RangeFunction] = {
    "rate": lambda ps, s, e: _extrapolated(ps, s, e, counter=True, per_second=True),
    "increase": lambda ps, s, e: _extrapolated(ps, s, e, counter=True, per_second=False),
    "delta": lambda ps, s, e: _extrapolated(ps, s, e, counter=False, per_second=False),
    "irate": lambda ps, s, e: _instant_delta(ps, rate=True),
    "idelta": lambda ps, s, e: _instant_delta(ps, rate=False),
    "deriv": lambda ps, s, e: _regression(ps, e)[0] if len(ps) >= 2 else None,
    "resets": lambda ps, s, e: _resets(ps),
    "changes": lambda ps, s, e: _changes(ps),
    "avg_over_time": lambda ps, s, e: math.fsum(v for _, v in ps) / len(ps),
    "min_over_time": lambda ps, s, e: min(v for _, v in ps),
    "max_over_time": lambda ps, s, e: max(v for _, v in ps),
    "sum_over_time": lambda ps, s, e: math.fsum(v for _, v in ps),
    "count_over_time": lambda ps, s, e: float(len(ps)),
    "last_over_time": lambda ps, s, e: ps[-1][1],
    "present_over_time": lambda ps, s, e: 1.0,
    "stddev_over_time": lambda ps, s, e: math.sqrt(_variance(ps)),
    "stdvar_over_time": lambda ps, s, e: _variance(ps),
}


def _kahan(increment: float, total: float, compensation: float) -> tuple[float, float]:
    t = total + increment
    if abs(total) >= abs(increment):
        compensation += (total - t) + increment
    else:
        compensation += (increment - t) + total
    return t, compensation


def _variance(points: Points) -> float:
    """Prometheus 2.42's `stdvar_over_time`: a running mean and variance with Kahan summation."""
    count = mean = c_mean = aux = c_aux = 0.0
    for _, value in points:
        count += 1
        delta = value - (mean + c_mean)
        mean, c_mean = _kahan(delta / count, mean, c_mean)
        aux, c_aux = _kahan(delta * (value - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def holt_winters(points: Points, smoothing: float, trend: float) -> float | None:
    """Prometheus 2.42's double exponential smoothing; None with fewer than two samples."""
    if len(points) < 2:
        return None
    s0, s1 = 0.0, points[0][1]
    b = points[1][1] - points[0][1]
    for index in range(1, len(points)):
        x = smoothing * points[index][1]
        if index > 1:
            b = trend * (s1 - s0) + (1 - trend) * b
        y = (1 - smoothing) * (s1 + b)
        s0, s1 = s1, x + y
    return s1


def _go_math(function: Callable[[float], float]) -> Callable[[float], float]:
    """Go's math functions answer NaN (or an infinity) where Python's raise."""

    def call(value: float) -> float:
        try:
            return function(value)
        except (ValueError, OverflowError):
            if function is math.atanh and abs(value) == 1:
                return math.copysign(math.inf, value)
            return math.inf if function in (math.cosh, math.sinh) and value > 0 else math.nan

    return call


def _round(value: float, to: float = 1.0) -> float:
    return math.floor(value / to + 0.5) * to if to else value


MATH: dict[str, Callable[..., float]] = {
    "abs": abs, "ceil": lambda v: float(math.ceil(v)) if math.isfinite(v) else v,
    "floor": lambda v: float(math.floor(v)) if math.isfinite(v) else v, "round": _round,
    "sqrt": lambda v: math.sqrt(v) if v >= 0 else math.nan, "exp": math.exp,
    "ln": lambda v: math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan),
    "log2": lambda v: math.log2(v) if v > 0 else (-math.inf if v == 0 else math.nan),
    "log10": lambda v: math.log10(v) if v > 0 else (-math.inf if v == 0 else math.nan),
    "clamp": lambda v, lo, hi: math.nan if lo > hi else max(lo, min(hi, v)),
    "clamp_min": lambda v, lo: max(lo, v), "clamp_max": lambda v, hi: min(hi, v),
    "sgn": lambda v: v if math.isnan(v) else float((v > 0) - (v < 0)),
    "deg": lambda v: v * 180 / math.pi, "rad": lambda v: v * math.pi / 180,
    **{name: _go_math(getattr(math, name)) for name in
       ("acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh")},
}  # fmt: skip
CLOCK: dict[str, Callable[[datetime], float]] = {
    "day_of_month": lambda d: float(d.day),
    "day_of_week": lambda d: float(d.isoweekday() % 7),
    "day_of_year": lambda d: float(d.timetuple().tm_yday),
    "days_in_month": lambda d: float(calendar.monthrange(d.year, d.month)[1]),
    "hour": lambda d: float(d.hour),
    "minute": lambda d: float(d.minute),
    "month": lambda d: float(d.month),
    "year": lambda d: float(d.year),
}


def clock_value(name: str, seconds: float) -> float:
    if not math.isfinite(seconds):
        return math.nan
    return CLOCK[name](datetime.fromtimestamp(math.floor(seconds), tz=UTC))

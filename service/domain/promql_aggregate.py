"""PromQL's aggregation operators as Prometheus 2.42 computes them, for promql_eval.

`sum`, `avg`, `min`, `max`, `count`, `group`, `stddev`, `stdvar` keep the grouping
labels; `topk` and `bottomk` keep the chosen samples whole (their metric name
too); `quantile` interpolates as PromQL does; `count_values` adds a label holding
each value, written as Go's strconv.FormatFloat(v, 'f', -1) writes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

from service.domain.promql_ast import Aggregate

Labels = dict[str, str]
Vector = list[tuple[Labels, float]]


def _grouping(node: Aggregate, labels: Mapping[str, str]) -> Labels:
    if node.without:
        return {k: v for k, v in labels.items() if k not in node.labels and k != "__name__"}
    return {k: labels[k] for k in node.labels if k in labels}


def aggregate(node: Aggregate, rows: Vector, param: float | str | None) -> Vector:
    if node.op in {"topk", "bottomk"}:
        assert isinstance(param, float)
        return _top(node, rows, param)
    if node.op == "count_values":
        assert isinstance(param, str)
        return _count_values(node, rows, param)
    groups: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for labels, value in rows:
        groups.setdefault(tuple(sorted(_grouping(node, labels).items())), []).append(value)
    if node.op == "quantile":
        assert isinstance(param, float)
        return [(dict(key), quantile(param, values)) for key, values in groups.items()]
    return [(dict(key), _combine(node.op, values)) for key, values in groups.items()]


def _top(node: Aggregate, rows: Vector, k: float) -> Vector:
    if math.isnan(k) or k < 1:
        return []
    count = int(min(k, float(len(rows) or 1)))
    groups: dict[tuple[tuple[str, str], ...], Vector] = {}
    for labels, value in rows:
        groups.setdefault(tuple(sorted(_grouping(node, labels).items())), []).append((labels, value))
    out: Vector = []
    for members in groups.values():
        if node.op == "topk":  # NaN loses to every number
            ordered = sorted(members, key=lambda s: (not math.isnan(s[1]), s[1]), reverse=True)
        else:
            ordered = sorted(members, key=lambda s: (math.isnan(s[1]), s[1]))
        out.extend(ordered[:count])
    return out


def go_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _count_values(node: Aggregate, rows: Vector, label: str) -> Vector:
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    for labels, value in rows:
        kept = {**_grouping(node, labels), label: go_float(value)}
        key = tuple(sorted(kept.items()))
        counts[key] = counts.get(key, 0.0) + 1.0
    return [(dict(key), n) for key, n in counts.items()]


def quantile(q: float, values: list[float]) -> float:
    """Prometheus' `quantile`: linear interpolation between the closest ranks."""
    if not values:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    lower = max(0, math.floor(rank))
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def _combine(op: str, values: list[float]) -> float:
    n = len(values)
    mean = math.fsum(values) / n
    if op == "sum":
        return math.fsum(values)
    if op == "avg":
        return mean
    if op == "min":
        return min(values, key=lambda v: (math.isnan(v), v))
    if op == "max":
        return max(values, key=lambda v: (not math.isnan(v), v))
    if op == "count":
        return float(n)
    if op == "group":
        return 1.0
    variance = welford_variance(values)
    return math.sqrt(variance) if op == "stddev" else variance


def welford_variance(values: list[float]) -> float:
    """The running mean and variance Prometheus 2.42 computes, in its order of operations."""
    count = mean = aux = 0.0
    for value in values:
        count += 1
        delta = value - mean
        mean += delta / count
        aux += delta * (value - mean)
    return aux / count

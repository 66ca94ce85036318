"""Evaluating the PromQL subset of promql_parse over in-memory series, as Prometheus 2.x does.

Why it exists: `incidentd rules test` must run a Prometheus rule file's `expr`
against promtool-style input series without a Prometheus server. In production
the expression goes to Prometheus itself; this engine only feeds unit tests,
so it follows Prometheus 2.42 where the tests can tell (5-minute lookback,
staleness markers, range selectors closed at both ends, `rate` extrapolation,
vector matching, `__name__` dropped by arithmetic and functions) and refuses
what it does not implement. Agreement with real promtool is tested.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from service.domain.derivations import histogram_quantile
from service.domain.promql_functions import MATH, RANGE_FUNCTIONS, Points, predict_linear
from service.domain.promql_parse import (
    COMPARISONS,
    SET_OPS,
    Aggregate,
    Binary,
    Call,
    Expr,
    Negate,
    Number,
    Select,
    String,
    Unsupported,
)

LOOKBACK_SECONDS = 300.0
Labels = dict[str, str]
Sample = tuple[Labels, float]
Vector = list[Sample]


class Stale:
    """Prometheus' staleness marker: the series ends here until its next real sample."""


STALE = Stale()


@dataclass
class Series:
    labels: Labels
    points: list[tuple[float, float | Stale]]  # (seconds, value), oldest first


def _drop_name(labels: Mapping[str, str]) -> Labels:
    return {k: v for k, v in labels.items() if k != "__name__"}


class Engine:
    def __init__(self, series: Sequence[Series]) -> None:
        self.series = list(series)

    def query(self, expr: Expr, at: float) -> Vector:
        """An instant query: the rows an alerting rule turns into alerts (a scalar is one unlabelled row)."""
        result = self._eval(expr, at)
        if isinstance(result, float):
            return [({}, result)]
        if isinstance(result, str):
            raise Unsupported("an expression of type string cannot be an alert")
        return result

    def _select(self, node: Select) -> list[Series]:
        chosen = []
        for item in self.series:
            if node.name is not None and item.labels.get("__name__") != node.name:
                continue
            if all(m.matches(item.labels) for m in node.matchers):
                chosen.append(item)
        return chosen

    def _instant(self, node: Select, at: float) -> Vector:
        rows: Vector = []
        for item in self._select(node):
            latest: float | Stale | None = None
            for t, v in item.points:
                if t > at:
                    break
                if t >= at - LOOKBACK_SECONDS:
                    latest = v
            if latest is not None and not isinstance(latest, Stale):
                rows.append((dict(item.labels), latest))
        return rows

    def _range(self, node: Select, at: float) -> list[tuple[Labels, Points]]:
        assert node.range_seconds is not None
        start = at - node.range_seconds
        found = []
        for item in self._select(node):
            points = [(t, v) for t, v in item.points if start <= t <= at and not isinstance(v, Stale)]
            if points:
                found.append((item.labels, points))
        return found

    def _eval(self, node: Expr, at: float) -> Vector | float | str:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, String):
            return node.value
        if isinstance(node, Select):
            if node.range_seconds is not None:
                raise Unsupported("a range vector must be the argument of a function such as rate()")
            return self._instant(node, at)
        if isinstance(node, Negate):
            inner = self._eval(node.expr, at)
            if isinstance(inner, str):
                raise Unsupported("cannot negate a string")
            return -inner if isinstance(inner, float) else [(_drop_name(ls), -v) for ls, v in inner]
        if isinstance(node, Aggregate):
            return _aggregate(node, self._vector(node.expr, at))
        if isinstance(node, Call):
            return self._call(node, at)
        return self._binary(node, at)

    def _vector(self, node: Expr, at: float) -> Vector:
        result = self._eval(node, at)
        if not isinstance(result, list):
            raise Unsupported("expected an instant vector, got a scalar or string")
        return result

    def _scalar(self, node: Expr, at: float) -> float:
        result = self._eval(node, at)
        if not isinstance(result, float):
            raise Unsupported("expected a scalar (a number)")
        return result

    def _call(self, node: Call, at: float) -> Vector | float:
        name, args = node.name, node.args
        if name == "time":
            return at
        if name == "vector":
            return [({}, self._scalar(args[0], at))]
        if name == "scalar":
            rows = self._vector(args[0], at)
            return rows[0][1] if len(rows) == 1 else math.nan
        if name in RANGE_FUNCTIONS or name in {"predict_linear", "absent_over_time"}:
            if not args or not isinstance(args[0], Select) or args[0].range_seconds is None:
                raise Unsupported(f"{name}() takes a range vector such as x[5m]")
            selector = args[0]
            ranges = self._range(selector, at)
            if name == "absent_over_time":
                return [] if ranges else [(_absent_labels(selector), 1.0)]
            if name == "predict_linear":
                ahead = self._scalar(args[1], at)
                return [(_drop_name(ls), predict_linear(ps, at, ahead)) for ls, ps in ranges if len(ps) >= 2]
            function = RANGE_FUNCTIONS[name]
            assert selector.range_seconds is not None
            out = [(_drop_name(ls), function(ps, at - selector.range_seconds, at)) for ls, ps in ranges]
            return [(ls, v) for ls, v in out if v is not None]
        if name == "absent":
            rows = self._vector(args[0], at)
            target = args[0] if isinstance(args[0], Select) else None
            return [] if rows else [(_absent_labels(target), 1.0)]
        if name == "timestamp":
            raise Unsupported("timestamp() is not supported by the rules test evaluator")
        if name == "histogram_quantile":
            return _quantile(self._scalar(args[0], at), self._vector(args[1], at))
        rows = self._vector(args[0], at)
        bounds = [self._scalar(a, at) for a in args[1:]]
        return [(_drop_name(ls), MATH[name](v, *bounds)) for ls, v in rows]

    def _binary(self, node: Binary, at: float) -> Vector | float:
        lhs, rhs = self._eval(node.lhs, at), self._eval(node.rhs, at)
        if isinstance(lhs, str) or isinstance(rhs, str):
            raise Unsupported("binary operators do not take strings")
        if node.op in SET_OPS:
            if not isinstance(lhs, list) or not isinstance(rhs, list):
                raise Unsupported(f"{node.op} needs instant vectors on both sides")
            return _set_op(node, lhs, rhs)
        compare = node.op in COMPARISONS
        if isinstance(lhs, float) and isinstance(rhs, float):
            if compare and not node.bool_:
                raise Unsupported("comparisons between scalars must use the bool modifier")
            return _apply(node.op, lhs, rhs)[0]
        if isinstance(lhs, float) or isinstance(rhs, float):
            return _vector_scalar(node, lhs, rhs)
        assert isinstance(lhs, list)
        assert isinstance(rhs, list)
        return _vector_vector(node, lhs, rhs)


def _absent_labels(selector: Select | None) -> Labels:
    if selector is None:
        return {}
    labels = {m.label: m.value for m in selector.matchers if m.op == "=" and m.label != "__name__"}
    counts: dict[str, int] = {}
    for m in selector.matchers:
        counts[m.label] = counts.get(m.label, 0) + 1
    return {k: v for k, v in labels.items() if counts[k] == 1}


def _power(a: float, b: float) -> float:
    """Go's math.Pow: no exceptions, NaN or an infinity instead."""
    try:
        return math.pow(a, b)
    except ZeroDivisionError:
        return math.inf
    except (ValueError, OverflowError):
        return math.nan if a < 0 else math.inf


_OPS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "^": _power, "atan2": math.atan2,
}  # fmt: skip
_CMP: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge,
}  # fmt: skip


def _divide(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1, b)
    return a / b


def _modulo(a: float, b: float) -> float:
    return math.nan if b == 0 else math.fmod(a, b)


def _apply(op: str, a: float, b: float) -> tuple[float, bool]:
    """(value, keep): comparisons keep the left value when true; `bool` callers use keep as 1/0."""
    if op in _CMP:
        return (1.0 if _CMP[op](a, b) else 0.0), _CMP[op](a, b)
    if op == "/":
        return _divide(a, b), True
    if op == "%":
        return _modulo(a, b), True
    return _OPS[op](a, b), True


def _vector_scalar(node: Binary, lhs: Vector | float, rhs: Vector | float) -> Vector:
    swap = isinstance(lhs, float)
    rows = rhs if swap else lhs
    scalar = lhs if swap else rhs
    assert isinstance(rows, list)
    assert isinstance(scalar, float)
    out: Vector = []
    for labels, value in rows:
        a, b = (scalar, value) if swap else (value, scalar)
        result, keep = _apply(node.op, a, b)
        if node.op in COMPARISONS:
            if node.bool_:
                out.append((_drop_name(labels), result))
            elif keep:
                out.append((labels, value))
        else:
            out.append((_drop_name(labels), result))
    return out


def _signature(labels: Mapping[str, str], node: Binary) -> tuple[tuple[str, str], ...]:
    if node.matching is not None and node.on:
        return tuple(sorted((k, labels.get(k, "")) for k in node.matching))
    ignored = set(node.matching or ()) | {"__name__"}
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ignored))


def _set_op(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    right = {_signature(ls, node) for ls, _ in rhs}
    if node.op == "and":
        return [(ls, v) for ls, v in lhs if _signature(ls, node) in right]
    if node.op == "unless":
        return [(ls, v) for ls, v in lhs if _signature(ls, node) not in right]
    left = {_signature(ls, node) for ls, _ in lhs}
    return [*lhs, *((ls, v) for ls, v in rhs if _signature(ls, node) not in left)]


def _vector_vector(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    many, one = (rhs, lhs) if node.group == "right" else (lhs, rhs)
    ones: dict[tuple[tuple[str, str], ...], Sample] = {}
    for sample in one:
        key = _signature(sample[0], node)
        if key in ones:
            side = "left" if one is lhs else "right"
            raise Unsupported(f"many-to-many matching: several series on the {side} side match {dict(key)}")
        ones[key] = sample
    if node.group is None:
        seen: set[tuple[tuple[str, str], ...]] = set()
        for labels, _ in many:
            key = _signature(labels, node)
            if key in seen and key in ones:
                raise Unsupported(f"many-to-one matching needs group_left or group_right ({dict(key)})")
            seen.add(key)
    out: Vector = []
    for labels, value in many:
        match = ones.get(_signature(labels, node))
        if match is None:
            continue
        a, b = (match[1], value) if node.group == "right" else (value, match[1])
        result, keep = _apply(node.op, a, b)
        compare = node.op in COMPARISONS
        if compare and not node.bool_ and not keep:
            continue
        result_labels = dict(labels) if compare and not node.bool_ else _drop_name(labels)
        if node.group is None and node.matching is not None:
            if node.on:
                result_labels = {k: v for k, v in result_labels.items() if k in node.matching}
            else:
                result_labels = {k: v for k, v in result_labels.items() if k not in node.matching}
        for name in node.include:
            if name in match[0]:
                result_labels[name] = match[0][name]
            else:
                result_labels.pop(name, None)
        out.append((result_labels, a if compare and not node.bool_ else result))
    return out


def _aggregate(node: Aggregate, rows: Vector) -> Vector:
    groups: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for labels, value in rows:
        if node.without:
            kept = {k: v for k, v in labels.items() if k not in node.labels and k != "__name__"}
        else:
            kept = {k: labels[k] for k in node.labels if k in labels}
        groups.setdefault(tuple(sorted(kept.items())), []).append(value)
    return [(dict(key), _combine(node.op, values)) for key, values in groups.items()]


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
    variance = math.fsum((v - mean) ** 2 for v in values) / n
    return math.sqrt(variance) if op == "stddev" else variance


def _quantile(q: float, rows: Vector) -> Vector:
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for labels, value in rows:
        try:
            bound = float(labels.get("le", ""))
        except ValueError:
            continue
        key = tuple(sorted((k, v) for k, v in labels.items() if k not in {"le", "__name__"}))
        groups.setdefault(key, []).append((bound, value))
    out: Vector = []
    for key, buckets in groups.items():
        found = histogram_quantile(q, sorted(buckets))
        out.append((dict(key), math.nan if found is None else found))
    return out

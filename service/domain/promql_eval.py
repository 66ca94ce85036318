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
from collections.abc import Sequence
from dataclasses import dataclass

from service.domain.derivations import histogram_quantile
from service.domain.promql_aggregate import aggregate, quantile
from service.domain.promql_ast import (
    MATRIX,
    Aggregate,
    Call,
    Expr,
    Negate,
    Number,
    Select,
    String,
    Subquery,
    type_of,
)
from service.domain.promql_binary import apply_binary, drop_name
from service.domain.promql_functions import (
    CLOCK,
    MATH,
    RANGE_FUNCTIONS,
    Points,
    clock_value,
    holt_winters,
    predict_linear,
)
from service.domain.promql_labels import label_join, label_replace
from service.domain.promql_lex import Unsupported

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


Matrix = list[tuple[Labels, Points]]
_KEEP_NAME = {"label_replace", "label_join", "sort", "sort_desc", "last_over_time"}
_NATIVE = {"histogram_count", "histogram_sum", "histogram_fraction"}


class Engine:
    """`step` is the default subquery resolution (Prometheus: the evaluation interval)."""

    def __init__(self, series: Sequence[Series], *, step: float = 60.0) -> None:
        # in label order, as Prometheus' storage returns them: order-sensitive sums (stddev) depend on it
        self.series = sorted(series, key=lambda item: sorted(item.labels.items()))
        self.step = step
        self._query_at = 0.0

    def query(self, expr: Expr, at: float) -> Vector:
        """An instant query: the rows an alerting rule turns into alerts (a scalar is one unlabelled row)."""
        self._query_at = at
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

    def _moved(self, node: Select | Subquery, at: float) -> float:
        """The time a selector or subquery reads at: its `@` time (start()/end() are the query's own time
        in an instant query), less its offset."""
        if node.timestamp is not None:
            at = node.timestamp
        elif node.anchor is not None:
            at = self._query_at
        return at - node.offset

    def _instant(self, node: Select, at: float, *, stamped: bool = False) -> Vector:
        at = self._moved(node, at)
        rows: Vector = []
        for item in self._select(node):
            latest: tuple[float, float | Stale] | None = None
            for t, v in item.points:
                if t > at:
                    break
                if t >= at - LOOKBACK_SECONDS:
                    latest = (t, v)
            if latest is not None and not isinstance(latest[1], Stale):
                rows.append((dict(item.labels), latest[0] if stamped else latest[1]))
        return rows

    def _range(self, node: Select | Subquery, at: float) -> tuple[Matrix, float, float]:
        """The range's series and its window [start, end]."""
        end = self._moved(node, at)
        start = end - (node.range_seconds or 0.0)
        if isinstance(node, Subquery):
            return self._subquery(node, start, end), start, end
        found = []
        for item in self._select(node):
            points = [(t, v) for t, v in item.points if start <= t <= end and not isinstance(v, Stale)]
            if points:
                found.append((item.labels, points))
        return found, start, end

    def _subquery(self, node: Subquery, start: float, end: float) -> Matrix:
        """The inner expression at every multiple of the step inside [start, end], as Prometheus aligns it."""
        step_ms = round((node.step_seconds or self.step) * 1000)
        start_ms, end_ms = round(start * 1000), round(end * 1000)
        first = step_ms * (start_ms // step_ms)
        if first < start_ms:
            first += step_ms
        series: dict[tuple[tuple[str, str], ...], tuple[Labels, Points]] = {}
        for ms in range(first, end_ms + 1, step_ms):
            result = self._eval(node.expr, ms / 1000)
            rows = [({}, result)] if isinstance(result, float) else result
            if isinstance(rows, str):
                raise Unsupported("a subquery needs an instant vector")
            for labels, value in rows:
                key = tuple(sorted(labels.items()))
                series.setdefault(key, (labels, []))[1].append((ms / 1000, value))
        return list(series.values())

    def _eval(self, node: Expr, at: float) -> Vector | float | str:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, String):
            return node.value
        if isinstance(node, Select):
            if node.range_seconds is not None:
                raise Unsupported("a range vector must be the argument of a function such as rate()")
            return self._instant(node, at)
        if isinstance(node, Subquery):
            raise Unsupported("a subquery must be the argument of a function such as max_over_time()")
        if isinstance(node, Negate):
            inner = self._eval(node.expr, at)
            if isinstance(inner, str):
                raise Unsupported("cannot negate a string")
            return -inner if isinstance(inner, float) else [(drop_name(ls), -v) for ls, v in inner]
        if isinstance(node, Aggregate):
            param = None if node.param is None else self._eval(node.param, at)
            if isinstance(param, list):
                raise Unsupported(f"the parameter of {node.op} must be a scalar or string")
            return aggregate(node, self._vector(node.expr, at), param)
        if isinstance(node, Call):
            return self._call(node, at)
        lhs, rhs = self._eval(node.lhs, at), self._eval(node.rhs, at)
        if isinstance(lhs, str) or isinstance(rhs, str):
            raise Unsupported("binary operators do not take strings")
        return apply_binary(node, lhs, rhs)

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

    def _string(self, node: Expr, at: float) -> str:
        result = self._eval(node, at)
        if not isinstance(result, str):
            raise Unsupported("expected a string")
        return result

    def _call(self, node: Call, at: float) -> Vector | float:
        name, args = node.name, node.args
        if name in _NATIVE:
            raise Unsupported(
                f"{name}() reads native histograms, which the rules test evaluator does not have"
            )
        if name == "time":
            return at
        if name == "pi":
            return math.pi
        if name == "vector":
            return [({}, self._scalar(args[0], at))]
        if name == "scalar":
            rows = self._vector(args[0], at)
            return rows[0][1] if len(rows) == 1 else math.nan
        if any(type_of(arg) == MATRIX for arg in args):
            return self._range_call(name, args, at)
        if name == "absent":
            rows = self._vector(args[0], at)
            target = args[0] if isinstance(args[0], Select) else None
            return [] if rows else [(_absent_labels(target), 1.0)]
        if name == "histogram_quantile":
            return _quantile(self._scalar(args[0], at), self._vector(args[1], at))
        if name in CLOCK:
            rows = self._vector(args[0], at) if args else [({}, at)]
            return [(drop_name(ls), clock_value(name, v)) for ls, v in rows]
        if name == "timestamp":
            if isinstance(args[0], Select):
                return [(drop_name(ls), t) for ls, t in self._instant(args[0], at, stamped=True)]
            return [(drop_name(ls), at) for ls, _ in self._vector(args[0], at)]
        rows = self._vector(args[0], at)
        if name in {"sort", "sort_desc"}:
            return sorted(rows, key=lambda row: row[1], reverse=name == "sort_desc")
        if name == "label_replace":
            dst, replacement, src, regex = (self._string(a, at) for a in args[1:])
            return label_replace(rows, dst, replacement, src, regex)
        if name == "label_join":
            dst, separator, *sources = (self._string(a, at) for a in args[1:])
            return label_join(rows, dst, separator, sources)
        bounds = [self._scalar(a, at) for a in args[1:]]
        return [(drop_name(ls), MATH[name](v, *bounds)) for ls, v in rows]

    def _range_call(self, name: str, args: Sequence[Expr], at: float) -> Vector:
        selector = next(arg for arg in args if type_of(arg) == MATRIX)
        assert isinstance(selector, Select | Subquery)
        ranges, start, end = self._range(selector, at)
        if name == "absent_over_time":
            target = selector if isinstance(selector, Select) else None
            return [] if ranges else [(_absent_labels(target), 1.0)]
        keep = name in _KEEP_NAME

        def shown(labels: Labels) -> Labels:
            return dict(labels) if keep else drop_name(labels)

        if name == "predict_linear":
            ahead = self._scalar(args[1], at)
            return [(shown(ls), predict_linear(ps, at, ahead)) for ls, ps in ranges if len(ps) >= 2]
        if name == "quantile_over_time":
            q = self._scalar(args[0], at)
            return [(shown(ls), quantile(q, [v for _, v in ps])) for ls, ps in ranges]
        if name == "holt_winters":
            smoothing, trend = self._scalar(args[1], at), self._scalar(args[2], at)
            for factor in (smoothing, trend):
                if not 0 < factor < 1:
                    raise Unsupported(f"invalid smoothing or trend factor {factor:g}: expected 0 < f < 1")
            found = [(shown(ls), holt_winters(ps, smoothing, trend)) for ls, ps in ranges]
            return [(ls, v) for ls, v in found if v is not None]
        function = RANGE_FUNCTIONS[name]
        out = [(shown(ls), function(ps, start, end)) for ls, ps in ranges]
        return [(ls, v) for ls, v in out if v is not None]


def _absent_labels(selector: Select | None) -> Labels:
    if selector is None:
        return {}
    labels = {m.label: m.value for m in selector.matchers if m.op == "=" and m.label != "__name__"}
    counts: dict[str, int] = {}
    for m in selector.matchers:
        counts[m.label] = counts.get(m.label, 0) + 1
    return {k: v for k, v in labels.items() if counts[k] == 1}


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

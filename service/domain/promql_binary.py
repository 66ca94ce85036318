"""PromQL's binary operators as Prometheus 2.42 applies them, for promql_eval: arithmetic with Go's
float rules, comparisons (filtering, or 1/0 with `bool`), `and`/`or`/`unless`, and vector matching
with `on`/`ignoring`/`group_left`/`group_right`."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping

from service.domain.promql_ast import COMPARISONS, SET_OPS, Binary
from service.domain.promql_lex import Unsupported

Labels = dict[str, str]
Sample = tuple[Labels, float]
Vector = list[Sample]


def drop_name(labels: Mapping[str, str]) -> Labels:
    return {k: v for k, v in labels.items() if k != "__name__"}


def apply_binary(node: Binary, lhs: Vector | float, rhs: Vector | float) -> Vector | float:
    if node.op in SET_OPS:
        if not isinstance(lhs, list) or not isinstance(rhs, list):
            raise Unsupported(f"{node.op} needs instant vectors on both sides")
        return _set_op(node, lhs, rhs)
    if isinstance(lhs, float) and isinstance(rhs, float):
        if node.op in COMPARISONS and not node.bool_:
            raise Unsupported("comparisons between scalars must use the bool modifier")
        return _apply(node.op, lhs, rhs)[0]
    if isinstance(lhs, float) or isinstance(rhs, float):
        return _vector_scalar(node, lhs, rhs)
    return _vector_vector(node, lhs, rhs)


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
                out.append((drop_name(labels), result))
            elif keep:
                out.append((labels, value))
        else:
            out.append((drop_name(labels), result))
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
        result_labels = dict(labels) if compare and not node.bool_ else drop_name(labels)
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

"""PromQL expressions as promql_parse builds them, and the types Prometheus 2.42 checks them with.

Every node carries `at`, its character offset in the expression, so a type error
names where it is. `FUNCTIONS` is Prometheus 2.42's function table: argument
types (the last one repeating when `variadic`), how many may be left out, and
the result type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.domain.rules import Matcher

SCALAR, VECTOR, MATRIX, STRING = "scalar", "instant vector", "range vector", "string"


@dataclass(frozen=True)
class Number:
    value: float
    at: int = 0


@dataclass(frozen=True)
class String:
    value: str
    at: int = 0


@dataclass(frozen=True)
class Select:
    name: str | None
    matchers: tuple[Matcher, ...]
    range_seconds: float | None = None
    offset: float = 0.0
    timestamp: float | None = None  # `@ 1700000000`
    anchor: str | None = None  # `@ start()` / `@ end()`: the query's time in an instant query
    at: int = 0


@dataclass(frozen=True)
class Subquery:
    expr: Expr
    range_seconds: float
    step_seconds: float | None  # None: the default evaluation interval
    offset: float = 0.0
    timestamp: float | None = None
    anchor: str | None = None
    at: int = 0


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    at: int = 0


@dataclass(frozen=True)
class Aggregate:
    op: str
    expr: Expr
    labels: tuple[str, ...] = ()
    without: bool = False
    param: Expr | None = None
    at: int = 0


@dataclass(frozen=True)
class Binary:
    op: str
    lhs: Expr
    rhs: Expr
    bool_: bool = False
    on: bool = False
    matching: tuple[str, ...] | None = None  # on(...)/ignoring(...) labels; None: match on all labels
    group: str | None = None  # "left" | "right"
    include: tuple[str, ...] = field(default=())
    at: int = 0


@dataclass(frozen=True)
class Negate:
    expr: Expr
    at: int = 0


Expr = Number | String | Select | Subquery | Call | Aggregate | Binary | Negate

AGGREGATIONS = {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"}
PARAMETRIC = {"topk": SCALAR, "bottomk": SCALAR, "quantile": SCALAR, "count_values": STRING}
COMPARISONS = {"==", "!=", "<=", "<", ">=", ">"}
SET_OPS = {"and", "or", "unless"}


@dataclass(frozen=True)
class Signature:
    args: tuple[str, ...]
    returns: str = VECTOR
    optional: int = 0  # trailing arguments that may be left out
    variadic: bool = False  # the last argument may repeat


_V, _M, _S, _T = (VECTOR,), (MATRIX,), (SCALAR,), (STRING,)
_MATH = ["abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn", "deg", "rad", "acos", "acosh",
         "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh", "absent", "sort",
         "sort_desc", "timestamp", "histogram_count", "histogram_sum"]  # fmt: skip
_OVER_TIME = ["rate", "increase", "irate", "delta", "idelta", "deriv", "resets", "changes", "avg_over_time",
              "min_over_time", "max_over_time", "sum_over_time", "count_over_time", "last_over_time",
              "present_over_time", "stddev_over_time", "stdvar_over_time", "absent_over_time"]  # fmt: skip
_CLOCK = ["day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year"]

FUNCTIONS: dict[str, Signature] = {
    **{name: Signature(_V) for name in _MATH},
    **{name: Signature(_M) for name in _OVER_TIME},
    **{name: Signature(_V, optional=1) for name in _CLOCK},
    "clamp": Signature((VECTOR, SCALAR, SCALAR)),
    "clamp_min": Signature((VECTOR, SCALAR)),
    "clamp_max": Signature((VECTOR, SCALAR)),
    "round": Signature((VECTOR, SCALAR), optional=1),
    "histogram_quantile": Signature((SCALAR, VECTOR)),
    "histogram_fraction": Signature((SCALAR, SCALAR, VECTOR)),
    "holt_winters": Signature((MATRIX, SCALAR, SCALAR)),
    "predict_linear": Signature((MATRIX, SCALAR)),
    "quantile_over_time": Signature((SCALAR, MATRIX)),
    "label_replace": Signature((VECTOR, STRING, STRING, STRING, STRING)),
    "label_join": Signature((VECTOR, STRING, STRING, STRING), variadic=True, optional=1),
    "pi": Signature((), returns=SCALAR),
    "time": Signature((), returns=SCALAR),
    "scalar": Signature(_V, returns=SCALAR),
    "vector": Signature(_S),
}


def type_of(node: Expr) -> str:
    if isinstance(node, Number):
        return SCALAR
    if isinstance(node, String):
        return STRING
    if isinstance(node, Select):
        return MATRIX if node.range_seconds is not None else VECTOR
    if isinstance(node, Subquery):
        return MATRIX
    if isinstance(node, Call):
        return FUNCTIONS[node.name].returns
    if isinstance(node, Negate):
        return type_of(node.expr)
    if isinstance(node, Aggregate):
        return VECTOR
    both = (type_of(node.lhs), type_of(node.rhs))
    return SCALAR if both == (SCALAR, SCALAR) else VECTOR

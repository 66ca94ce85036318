"""A parser for the PromQL subset that rule unit tests evaluate (see promql_eval for why a subset).

In production a Prometheus rule's `expr` is sent to Prometheus as it is; this
parser serves `incidentd rules test` only. It reads selectors with matchers,
range selectors, number literals, arithmetic, comparisons (with `bool`), `and`
/ `or` / `unless`, `on` / `ignoring` / `group_left` / `group_right`,
aggregations with `by` / `without`, and the functions promql_eval implements.
Anything else raises `Unsupported`, naming what, so a test is refused, never
evaluated wrongly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from service.domain.durations import parse_duration
from service.domain.rules import Matcher


class Unsupported(ValueError):
    """The expression is not valid PromQL, or uses PromQL this evaluator does not implement."""


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class String:
    value: str


@dataclass(frozen=True)
class Select:
    name: str | None
    matchers: tuple[Matcher, ...]
    range_seconds: float | None = None


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Aggregate:
    op: str
    expr: Expr
    labels: tuple[str, ...] = ()
    without: bool = False
    param: Expr | None = None


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


@dataclass(frozen=True)
class Negate:
    expr: Expr


Expr = Number | String | Select | Call | Aggregate | Binary | Negate

AGGREGATIONS = {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"}
FUNCTIONS = {
    "rate", "increase", "irate", "delta", "idelta", "deriv", "predict_linear", "resets", "changes",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "last_over_time", "present_over_time", "abs", "ceil", "floor", "round", "sqrt", "exp", "ln",
    "log2", "log10", "clamp", "clamp_min", "clamp_max", "absent", "absent_over_time", "time",
    "vector", "scalar", "histogram_quantile", "timestamp",
}  # fmt: skip
_PRECEDENCE = [
    {"or"},
    {"and", "unless"},
    {"==", "!=", "<=", "<", ">=", ">"},
    {"+", "-"},
    {"*", "/", "%", "atan2"},
    {"^"},
]
COMPARISONS = _PRECEDENCE[2]
SET_OPS = {"and", "or", "unless"}
_TOKEN = re.compile(
    r"""\s*(?:(?P<comment>\#[^\n]*)|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<dur>\[[^\]]*\])|(?P<num>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?:[Ii]nf|NaN)(?![A-Za-z0-9_:]))
    |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<op>=~|!~|==|!=|<=|>=|[-+*/%^<>=(){},@]))""",
    re.VERBOSE,
)


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "r": "\r"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), text[1:-1])


def _seconds(text: str) -> float:
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise Unsupported(str(exc)) from None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while text[position:].strip():
            match = _TOKEN.match(text, position)
            if match is None:
                raise Unsupported(f"cannot read {text[position:].strip()[:30]!r}")
            position = match.end()
            kind = match.lastgroup or ""
            if kind != "comment":
                self.tokens.append((kind, match.group(kind)))
        self.at = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if expected is not None and token[1] != expected:
            raise Unsupported(f"expected {expected!r}, got {token[1] or 'the end'!r}")
        self.at += 1
        return token

    def label_name(self) -> str:
        kind, name = self.take()
        if kind != "ident":
            raise Unsupported(f"expected a label name, got {name!r}")
        return name

    def labels(self) -> tuple[str, ...]:
        self.take("(")
        names: list[str] = []
        while self.peek()[1] != ")":
            names.append(self.label_name())
            if self.peek()[1] == ",":
                self.take()
        self.take(")")
        return tuple(names)

    def expr(self, level: int = 0) -> Expr:
        if level == len(_PRECEDENCE):
            return self.unary()
        lhs = self.expr(level + 1)
        while self.peek()[1] in _PRECEDENCE[level]:
            op = self.take()[1]
            binary = Binary(op, lhs, Number(0))
            binary = self.modifiers(binary)
            rhs = self.expr(level if op == "^" else level + 1)
            lhs = Binary(binary.op, lhs, rhs, binary.bool_, binary.on, binary.matching, binary.group,
                         binary.include)  # fmt: skip
        return lhs

    def modifiers(self, binary: Binary) -> Binary:
        bool_ = on = False
        matching: tuple[str, ...] | None = None
        group: str | None = None
        include: tuple[str, ...] = ()
        if self.peek()[1] == "bool":
            self.take()
            bool_ = True
        if self.peek()[1] in {"on", "ignoring"}:
            on = self.take()[1] == "on"
            matching = self.labels()
        if self.peek()[1] in {"group_left", "group_right"}:
            group = self.take()[1].removeprefix("group_")
            include = self.labels() if self.peek()[1] == "(" else ()
        return Binary(binary.op, binary.lhs, binary.rhs, bool_, on, matching, group, include)

    def unary(self) -> Expr:
        if self.peek()[1] in {"-", "+"}:
            sign = self.take()[1]
            inner = self.unary()
            return Negate(inner) if sign == "-" else inner
        return self.postfix(self.primary())

    def postfix(self, node: Expr) -> Expr:
        kind, text = self.peek()
        if kind == "dur":
            self.take()
            if ":" in text:
                raise Unsupported("subqueries ([range:step]) are not supported")
            if not isinstance(node, Select) or node.range_seconds is not None:
                raise Unsupported("a range [..] applies to a metric selector only")
            node = Select(node.name, node.matchers, _seconds(text[1:-1]))
        if self.peek()[1] in {"offset", "@"}:
            raise Unsupported(f"the {self.peek()[1]} modifier is not supported")
        return node

    def primary(self) -> Expr:
        kind, text = self.take()
        if kind == "num":
            return Number(float(int(text, 16)) if text.startswith("0x") else float(text))
        if kind == "str":
            return String(_unquote(text))
        if text == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if text == "{":
            self.at -= 1
            return Select(None, self.matchers())
        if kind != "ident":
            raise Unsupported(f"unexpected {text or 'end of expression'!r}")
        if text in AGGREGATIONS or text in {"topk", "bottomk", "quantile", "count_values"}:
            return self.aggregate(text)
        if self.peek()[1] == "(":
            return self.call(text)
        matchers = self.matchers() if self.peek()[1] == "{" else ()
        return Select(text, matchers)

    def aggregate(self, op: str) -> Expr:
        if op not in AGGREGATIONS:
            raise Unsupported(f"{op} is not supported by the rules test evaluator")
        labels: tuple[str, ...] = ()
        without = False
        if self.peek()[1] in {"by", "without"}:
            without = self.take()[1] == "without"
            labels = self.labels()
        self.take("(")
        inner = self.expr()
        self.take(")")
        if self.peek()[1] in {"by", "without"}:
            without = self.take()[1] == "without"
            labels = self.labels()
        return Aggregate(op, inner, labels, without)

    def call(self, name: str) -> Expr:
        if name not in FUNCTIONS:
            raise Unsupported(f"the function {name}() is not supported by the rules test evaluator")
        self.take("(")
        args: list[Expr] = []
        while self.peek()[1] != ")":
            args.append(self.expr())
            if self.peek()[1] == ",":
                self.take()
            elif self.peek()[1] != ")":
                raise Unsupported(f"expected , or ) in {name}(), got {self.peek()[1]!r}")
        self.take(")")
        return Call(name, tuple(args))

    def matchers(self) -> tuple[Matcher, ...]:
        self.take("{")
        found: list[Matcher] = []
        while self.peek()[1] != "}":
            label = self.label_name()
            op = self.take()[1]
            if op not in {"=", "!=", "=~", "!~"}:
                raise Unsupported(f"expected =, !=, =~ or !~ after {label}, got {op!r}")
            kind, value = self.take()
            if kind != "str":
                raise Unsupported(f"expected a quoted value for {label}")
            found.append(Matcher(label, op, _unquote(value)))
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        return tuple(found)


def parse_expr(text: str) -> Expr:
    parser = _Parser(text)
    node = parser.expr()
    if parser.peek()[0] != "end":
        raise Unsupported(f"unexpected {parser.peek()[1]!r} after a complete expression")
    return node


def parse_series(text: str) -> dict[str, str]:
    """A promtool input series, `name{label="value", ...}`, as its full label set."""
    node = parse_expr(text)
    if not isinstance(node, Select) or node.range_seconds is not None:
        raise Unsupported('expected a series such as up{job="node"}')
    if any(m.op != "=" for m in node.matchers):
        raise Unsupported('input series take exact labels: name{label="value"}')
    labels = {m.label: m.value for m in node.matchers}
    if node.name is not None:
        labels["__name__"] = node.name
    return labels

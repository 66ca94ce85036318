"""A parser for PromQL as Prometheus 2.42 reads it: its grammar, precedence and type checks.

Two users: `incidentd rules check` reports a broken `expr` with the position in
the expression where it breaks (Prometheus' own check is promtool's parse; the
tests hold our verdicts to promtool's on good and broken files), and the
rules-test engine (promql_eval) evaluates what it parses. Parsing accepts all of
2.42's PromQL (selectors, `offset`, `@`, subqueries, every function and
aggregation); whatever the engine does not evaluate is refused there, by name.
Our own rather than PyPI's `promql-parser` (a binding of a Rust parser for a later
grammar): its errors carry no position (`x +* y` is just "invalid promql query").
"""

from __future__ import annotations

import re
from typing import NoReturn

from service.domain.promql_ast import (
    AGGREGATIONS,
    COMPARISONS,
    FUNCTIONS,
    PARAMETRIC,
    SCALAR,
    SET_OPS,
    VECTOR,
    Aggregate,
    Binary,
    Call,
    Expr,
    Negate,
    Number,
    Select,
    String,
    Subquery,
    type_of,
)
from service.domain.promql_checks import check_binary, check_call, regex_problem, start_of
from service.domain.promql_lex import (
    ParseError,
    Token,
    Unsupported,
    number,
    seconds,
    tokenize,
    unquote,
    where,
)
from service.domain.rules import Matcher

__all__ = ["Expr", "ParseError", "Unsupported", "expr_problem", "parse_expr", "parse_series"]


_LEVELS = [{"or"}, {"and", "unless"}, COMPARISONS, {"+", "-"}, {"*", "/", "%", "atan2"}]
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
             "unless", "atan2"}  # fmt: skip
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _shown(token: Token) -> str:
    if token.kind == "end":
        return "end of input"
    kinds = {"num": "number", "dur": "duration", "str": "string", "ident": "identifier"}
    return f"{kinds[token.kind]} {token.text!r}" if token.kind in kinds else repr(token.text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def take(self, expected: str | None = None, *, context: str = "") -> Token:
        token = self.peek()
        if expected is not None and (token.text != expected or token.kind in {"str", "end"}):
            self.fail(f"unexpected {_shown(token)}{context}, expected {expected!r}", token)
        self.index += 1
        return token

    def fail(self, message: str, token: Token | int) -> NoReturn:
        raise ParseError(message, token if isinstance(token, int) else token.at, self.text)

    def is_op(self, *texts: str) -> bool:
        token = self.peek()
        return token.kind in {"op", "ident"} and token.text in texts

    # ---- binary expressions -------------------------------------------------------------

    def expr(self, level: int = 0) -> Expr:
        if level == len(_LEVELS):
            return self.unary()
        lhs = self.expr(level + 1)
        while self.peek().kind in {"op", "ident"} and self.peek().text in _LEVELS[level]:
            lhs = self.binary(lhs, level + 1)
        return lhs

    def binary(self, lhs: Expr, next_level: int) -> Expr:
        token = self.take()
        op = token.text
        bool_ = on = False
        matching: tuple[str, ...] | None = None
        group: str | None = None
        include: tuple[str, ...] = ()
        if self.is_op("bool"):
            if op not in COMPARISONS:
                self.fail("bool modifier can only be used on comparison operators", token)
            self.take()
            bool_ = True
        if self.is_op("on", "ignoring"):
            on = self.take().text == "on"
            matching = self.labels()
        if self.is_op("group_left", "group_right"):
            where = self.peek()
            group = self.take().text.removeprefix("group_")
            if op in SET_OPS:
                self.fail(f"no grouping allowed for {op!r} operation", start_of(lhs))
            if matching is None:
                self.fail(f"unexpected <group_{group}>: group modifiers need on(...) or ignoring(...)", where)
            include = self.labels() if self.is_op("(") else ()
        rhs = self.unary() if op == "^" else self.expr(next_level)
        node = Binary(op, lhs, rhs, bool_, on, matching, group, include, token.at)
        check_binary(node, token.at, self.text)
        return node

    def unary(self) -> Expr:
        if self.is_op("-", "+"):
            token = self.take()
            inner = self.unary() if self.is_op("-", "+") else self.unary_operand()
            if type_of(inner) not in (SCALAR, VECTOR):
                self.fail(
                    "unary expression only allowed on expressions of type scalar or instant vector", token
                )
            if token.text == "+":
                return inner
            if isinstance(inner, Number):
                return Number(-inner.value, token.at)
            return Negate(inner, token.at)
        return self.unary_operand()

    def unary_operand(self) -> Expr:
        """What a unary sign applies to: `-a ^ b` is `-(a ^ b)`, and `^` is right-associative."""
        base = self.postfix(self.primary())
        if self.is_op("^"):
            return self.binary(base, len(_LEVELS))
        return base

    # ---- ranges, subqueries, offset and @ -----------------------------------------------

    def postfix(self, node: Expr) -> Expr:
        while True:
            token = self.peek()
            if token.text == "[" and token.kind == "op":
                node = self.range(node)
            elif token.kind == "ident" and token.text == "offset":
                node = self.offset(node)
            elif token.text == "@" and token.kind == "op":
                node = self.anchor(node)
            else:
                return node

    def range(self, node: Expr) -> Expr:
        opener = self.take("[")
        length = self.duration("in a range")
        if self.is_op(":"):
            self.take()
            step = None if self.is_op("]") else self.duration("as a subquery step")
            self.take("]", context=" in subquery")
            if type_of(node) != VECTOR:
                self.fail(f"subquery is only allowed on instant vector, got {type_of(node)}", opener)
            return Subquery(node, length, step, at=opener.at)
        self.take("]", context=" in range")
        if not isinstance(node, Select) or node.range_seconds is not None:
            self.fail("ranges only allowed for vector selectors", opener)
        if node.offset or node.timestamp is not None or node.anchor is not None:
            self.fail("no offset or @ modifiers allowed before range", opener)
        return Select(node.name, node.matchers, length, at=node.at)

    def duration(self, where: str) -> float:
        token = self.peek()
        if token.kind != "dur":
            self.fail(f"unexpected {_shown(token)} {where}, expected a duration such as 5m", token)
        self.take()
        value = seconds(token, self.text)
        if value <= 0 and where != "as an offset":
            self.fail("duration must be greater than 0", token)
        return value

    def offset(self, node: Expr) -> Expr:
        self.take()
        sign = -1.0 if self.is_op("-") else 1.0
        if self.is_op("-", "+"):
            self.take()
        amount = sign * self.duration("as an offset")
        if not isinstance(node, Select | Subquery):
            self.fail("offset modifier must be preceded by an instant vector selector or range vector "
                      "selector or a subquery", start_of(node))  # fmt: skip
        if node.offset:
            self.fail("offset may not be set multiple times", start_of(node))
        if isinstance(node, Select):
            return Select(node.name, node.matchers, node.range_seconds, amount, node.timestamp, node.anchor,
                          node.at)  # fmt: skip
        return Subquery(node.expr, node.range_seconds, node.step_seconds, amount, node.timestamp,
                        node.anchor, node.at)  # fmt: skip

    def anchor(self, node: Expr) -> Expr:
        self.take()
        timestamp: float | None = None
        anchor: str | None = None
        if self.is_op("start", "end") and self.peek(1).text == "(":
            anchor = self.take().text
            self.take("(")
            self.take(")")
        else:
            sign = -1.0 if self.is_op("-") else 1.0
            if self.is_op("-", "+"):
                self.take()
            value = self.peek()
            if value.kind != "num":
                self.fail(
                    f"unexpected {_shown(value)} after @, expected a timestamp, start() or end()", value
                )
            self.take()
            timestamp = sign * number(value)
        if not isinstance(node, Select | Subquery):
            self.fail("@ modifier must be preceded by an instant vector selector or range vector selector "
                      "or a subquery", start_of(node))  # fmt: skip
        if node.timestamp is not None or node.anchor is not None:
            self.fail("@ <timestamp> may not be set multiple times", start_of(node))
        if isinstance(node, Select):
            return Select(
                node.name, node.matchers, node.range_seconds, node.offset, timestamp, anchor, node.at
            )
        return Subquery(node.expr, node.range_seconds, node.step_seconds, node.offset, timestamp, anchor,
                        node.at)  # fmt: skip

    # ---- primaries ----------------------------------------------------------------------

    def primary(self) -> Expr:
        token = self.peek()
        if token.kind == "num":
            self.take()
            return Number(number(token), token.at)
        if token.kind == "str":
            self.take()
            return String(unquote(token, self.text), token.at)
        if token.kind == "op" and token.text == "(":
            self.take()
            inner = self.expr()
            self.take(")", context=" in paren expression")
            return inner
        if token.kind == "op" and token.text == "{":
            return self.selector(None, token)
        if token.kind != "ident" or token.text in _KEYWORDS:
            self.fail(f"unexpected {_shown(token)}", token)
        name = token.text
        if name in AGGREGATIONS or name in PARAMETRIC:
            return self.aggregate(name)
        if self.peek(1).text == "(" and self.peek(1).kind == "op":
            if name not in FUNCTIONS:
                self.fail(f"unknown function with name {name!r}", token)
            return self.call(name)
        self.take()
        return self.selector(name, token) if self.is_op("{") else self.checked(Select(name, (), at=token.at))

    def selector(self, name: str | None, start: Token) -> Expr:
        self.take("{")
        found: list[Matcher] = []
        while not self.is_op("}"):
            label = self.peek()
            if label.kind != "ident" or not _LABEL.match(label.text):
                self.fail(f"unexpected {_shown(label)} in label matching, expected label name", label)
            self.take()
            op = self.peek()
            if op.kind != "op" or op.text not in {"=", "!=", "=~", "!~"}:
                self.fail(f"unexpected {_shown(op)} in label matching, expected one of =, !=, =~, !~", op)
            self.take()
            value = self.peek()
            if value.kind != "str":
                self.fail(f"unexpected {_shown(value)} in label matching, expected string", value)
            self.take()
            text = unquote(value, self.text)
            if op.text in {"=~", "!~"} and (problem := regex_problem(text)) is not None:
                self.fail(f"{problem}: {text!r}", label)
            name_as_written = self.text[label.at : label.at + len(label.text)]
            found.append(Matcher(name_as_written, op.text, text))
            if self.is_op(","):
                self.take()
            elif not self.is_op("}"):
                self.fail(f"unexpected {_shown(self.peek())} in label matching, expected ',' or '}}'",
                          self.peek())  # fmt: skip
        self.take("}")
        if name is not None and any(m.label == "__name__" for m in found):
            self.fail("metric name must not be set twice", start)
        return self.checked(Select(name, tuple(found), at=start.at))

    def checked(self, node: Select) -> Select:
        if node.name is None and all(m.matches({}) for m in node.matchers):
            self.fail("vector selector must contain at least one non-empty matcher", node.at)
        return node

    def labels(self) -> tuple[str, ...]:
        self.take("(", context=" in grouping opts")
        names: list[str] = []
        while not self.is_op(")"):
            token = self.peek()
            if token.kind != "ident" or not _LABEL.match(token.text):
                self.fail(f"unexpected {_shown(token)} in grouping opts, expected label", token)
            names.append(self.text[token.at : token.at + len(token.text)])
            self.take()
            if self.is_op(","):
                self.take()
            elif not self.is_op(")"):
                self.fail(
                    f"unexpected {_shown(self.peek())} in grouping opts, expected ')' or ','", self.peek()
                )
        self.take(")")
        return tuple(names)

    def aggregate(self, op: str) -> Expr:
        start = self.take()
        labels: tuple[str, ...] = ()
        without = grouped = False
        if self.is_op("by", "without"):
            without, grouped = self.take().text == "without", True
            labels = self.labels()
        self.take("(", context=f" in aggregation {op}")
        param: Expr | None = None
        if op in PARAMETRIC:
            param = self.expr()
            if self.is_op(")"):
                self.fail("wrong number of arguments for aggregate expression provided, expected 2, got 1",
                          start)  # fmt: skip
            self.take(",", context=f" in aggregation {op}")
        inner = self.expr()
        self.take(")", context=f" in aggregation {op}")
        if self.is_op("by", "without"):
            if grouped:
                self.fail("by or without given twice in aggregation", self.peek())
            without = self.take().text == "without"
            labels = self.labels()
        if type_of(inner) != VECTOR:
            self.fail(f"expected type instant vector in aggregation expression, got {type_of(inner)}", start)
        if param is not None and type_of(param) != PARAMETRIC[op]:
            self.fail(f"expected type {PARAMETRIC[op]} in aggregation parameter, got {type_of(param)}",
                      start_of(param))  # fmt: skip
        return Aggregate(op, inner, labels, without, param, start.at)

    def call(self, name: str) -> Expr:
        start = self.take()
        self.take("(")
        args: list[Expr] = []
        while not self.is_op(")"):
            args.append(self.expr())
            if self.is_op(","):
                self.take()
                if self.is_op(")"):
                    self.fail(f"unexpected ')' in call to {name!r}, expected an argument", self.peek())
            elif not self.is_op(")"):
                self.fail(f"unexpected {_shown(self.peek())} in call to {name!r}, expected ',' or ')'",
                          self.peek())  # fmt: skip
        self.take(")")
        check_call(name, args, start.at, self.text)
        return Call(name, tuple(args), start.at)


def parse_expr(text: str) -> Expr:
    """Parse and type-check like Prometheus 2.42; raises ParseError with the position."""
    parser = _Parser(text)
    if parser.peek().kind == "end":
        parser.fail("no expression found in input", parser.peek())
    node = parser.expr()
    if parser.peek().kind != "end":
        parser.fail(f"unexpected {_shown(parser.peek())}", parser.peek())
    return node


def expr_problem(text: str) -> str | None:
    """What `rules check` says of a rule's `expr`: None, or where (line:column inside the expression,
    as promtool counts) and why it is not PromQL, with the text from there on."""
    try:
        parse_expr(text)
    except ParseError as exc:
        line, column = where(text, exc.position)
        rest = text[exc.position :].split("\n", maxsplit=1)[0][:40]
        near = f' (at "{rest}")' if rest.strip() else " (at the end)"
        return f"not valid PromQL at {line}:{column} of the expression: {exc.message}{near}"
    return None


def parse_series(text: str) -> dict[str, str]:
    """A promtool input series, `name{label="value", ...}`, as its full label set."""
    try:
        node = parse_expr(text)
    except ParseError as exc:
        raise Unsupported(str(exc)) from None
    if not isinstance(node, Select) or node.range_seconds is not None:
        raise Unsupported('expected a series such as up{job="node"}')
    if any(m.op != "=" for m in node.matchers):
        raise Unsupported('input series take exact labels: name{label="value"}')
    labels = {m.label: m.value for m in node.matchers}
    if node.name is not None:
        labels["__name__"] = node.name
    return labels

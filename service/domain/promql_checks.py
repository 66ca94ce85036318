"""The type checks Prometheus 2.42 applies after parsing (its checkAST), with the positions it reports:
what a binary operator may join, and what each function takes."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import NoReturn

from service.domain.promql_ast import (
    COMPARISONS,
    FUNCTIONS,
    SCALAR,
    SET_OPS,
    VECTOR,
    Binary,
    Expr,
    Subquery,
    type_of,
)
from service.domain.promql_lex import ParseError


def _fail(text: str, message: str, at: int) -> NoReturn:
    raise ParseError(message, at, text)


def start_of(node: Expr) -> int:
    """Where an expression begins: a binary expression at its left operand, as Prometheus reports it."""
    while isinstance(node, Binary):
        node = node.lhs
    if isinstance(node, Subquery):
        return start_of(node.expr)
    return node.at


def check_binary(node: Binary, op_at: int, text: str) -> None:
    left, right = type_of(node.lhs), type_of(node.rhs)
    start = start_of(node)
    for side in (left, right):
        if side not in (SCALAR, VECTOR):
            _fail(text, "binary expression must contain only scalar and instant vector types", start)
    if node.op in SET_OPS and SCALAR in (left, right):
        _fail(text, f"set operator {node.op!r} not allowed in binary scalar expression", start)
    if node.op in COMPARISONS and left == right == SCALAR and not node.bool_:
        _fail(text, "comparisons between scalars must use BOOL modifier", op_at)
    if node.matching is not None and SCALAR in (left, right):
        _fail(text, "vector matching only allowed between instant vectors", start)
    if node.on and node.matching is not None:
        for name in node.include:
            if name in node.matching:
                _fail(text, f"label {name!r} must not occur in ON and GROUP clause at once", op_at)


def check_call(name: str, args: Sequence[Expr], at: int, text: str) -> None:
    signature = FUNCTIONS[name]
    least = len(signature.args) - signature.optional
    if signature.variadic and len(args) < least:
        _fail(text, f"expected at least {least} argument(s) in call to {name!r}, got {len(args)}", at)
    if not signature.variadic and signature.optional and not least <= len(args) <= len(signature.args):
        _fail(text, f"expected at most {len(signature.args)} argument(s) in call to {name!r}, got "
                  f"{len(args)}", at)  # fmt: skip
    if not signature.variadic and not signature.optional and len(args) != len(signature.args):
        _fail(text, f"expected {len(signature.args)} argument(s) in call to {name!r}, got {len(args)}", at)
    for index, arg in enumerate(args):
        wanted = signature.args[min(index, len(signature.args) - 1)]
        got = type_of(arg)
        if got != wanted:
            _fail(text, f"expected type {wanted} in call to function {name!r}, got {got}", start_of(arg))


_RE2_ALSO_REFUSES = (
    "missing ), unterminated subpattern",
    "unbalanced parenthesis",
    "unterminated character set",
    "nothing to repeat",
    "multiple repeat",
    "min repeat greater than max repeat",
)
_LOOKAROUND = re.compile(r"\(\?<?[=!]")
_BACKREFERENCE = re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]")


def regex_problem(pattern: str) -> str | None:
    """Why Go's RE2 (Prometheus' regexp) refuses a pattern, as far as Python's `re` can tell: its
    structural errors, plus look-arounds and back-references, which RE2 lacks. An escape only RE2 knows
    (`\\z`, `\\pL`, `\\Q...\\E`) is not reported."""
    if _LOOKAROUND.search(pattern):
        return "error parsing regexp: invalid or unsupported Perl syntax (look-arounds)"
    if _BACKREFERENCE.search(pattern):
        return "error parsing regexp: invalid escape sequence (back-references)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            re.compile(pattern)
        except re.error as exc:
            if str(exc).startswith(_RE2_ALSO_REFUSES):
                return f"error parsing regexp: {exc}"
    return None

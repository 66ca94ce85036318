"""PromQL's tokens as Prometheus 2.42's lexer reads them, each with its position in the expression.

Positions let `rules check` say where an `expr` goes wrong (line:column inside
the expression, as promtool does). Strings follow Go's quoting: in "..." and
'...' only the escapes Go knows are allowed (`\\d` is an error, as in
Prometheus: write `\\\\d` or use backticks); `...` in backticks is raw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class Unsupported(ValueError):
    """Valid PromQL this evaluator does not implement (or an expression of the wrong kind for its use)."""


class ParseError(Unsupported):
    """Not valid PromQL; `position` is the character offset in the expression where it goes wrong."""

    def __init__(self, message: str, position: int, text: str) -> None:
        self.message = message
        self.position = position
        self.text = text
        line, column = where(text, position)
        super().__init__(f"{line}:{column}: {message}")


def where(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


@dataclass(frozen=True)
class Token:
    kind: str  # ident, num, dur, str, op, end
    text: str
    at: int


_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
_TOKEN = re.compile(
    rf"""(?P<comment>\#[^\n]*)
    |(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
    |(?P<dur>{_DURATION}(?![A-Za-z0-9_]))
    |(?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_:.]))
    |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<op>=~|!~|==|!=|<=|>=|[-+*/%^<>=(){{}}\[\],:@])""",
    re.VERBOSE,
)
_NUMBER_WORDS = {"inf", "nan"}
# Prometheus reads its keywords in any case (`SUM(x) BY (job)`, `a AND b`); function names are exact.
KEYWORDS = {"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk",
            "count_values", "quantile", "and", "or", "unless", "atan2", "by", "without", "on", "ignoring",
            "group_left", "group_right", "bool", "offset"}  # fmt: skip
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    in_range = False  # inside [...], `:` separates a subquery's range and step
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position >= len(text):
            break
        if in_range and text[position] == ":":
            tokens.append(Token("op", ":", position))
            position += 1
            continue
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            if char in "\"'`":
                raise ParseError("unterminated quoted string", position, text)
            if char.isdigit() or char == ".":
                raise ParseError("bad number or duration syntax", position, text)
            raise ParseError(f"unexpected character: {char!r}", position, text)
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "ident" and value.lower() in _NUMBER_WORDS:
            kind = "num"
        elif kind == "ident" and value.lower() in KEYWORDS:
            value = value.lower()  # a label name keeps its spelling: the parser reads it from the text
        if kind == "op" and value in "[]":
            in_range = value == "["
        if kind != "comment":
            tokens.append(Token(kind, value, position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def unquote(token: Token, text: str) -> str:
    """A string literal's value, with Go's escapes (the ones Prometheus' lexer accepts)."""
    body = token.text[1:-1]
    if token.text.startswith("`"):
        return body
    quote = token.text[0]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = body[index + 1]
        at = token.at + 1 + index
        if code in _SIMPLE_ESCAPES or code == quote:
            out.append(_SIMPLE_ESCAPES.get(code, code))
            index += 2
        elif code in "01234567":
            digits = body[index + 1 : index + 4]
            if not re.fullmatch(r"[0-7]{3}", digits):
                raise ParseError("invalid octal escape in string", at, text)
            out.append(chr(int(digits, 8)))
            index += 4
        elif code in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[code]
            digits = body[index + 2 : index + 2 + size]
            if not re.fullmatch(rf"[0-9a-fA-F]{{{size}}}", digits):
                raise ParseError(f"invalid \\{code} escape in string", at, text)
            out.append(chr(int(digits, 16)))
            index += 2 + size
        else:
            shown = "\\" + code
            message = (
                f"unknown escape sequence {shown} in a string (write \\{shown}, or quote with backticks)"
            )
            raise ParseError(message, token.at, text)
    return "".join(out)


_UNITS = {"y": 365 * 86400.0, "w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_ORDER = list(_UNITS)


def seconds(token: Token, text: str) -> float:
    """Prometheus' model.ParseDuration: units from largest to smallest, each at most once."""
    total, last = 0.0, -1
    for amount, unit in re.findall(r"(\d+)(ms|[smhdwy])", token.text):
        rank = _ORDER.index(unit)
        if rank <= last:
            raise ParseError(f"not a valid duration string: {token.text!r}", token.at, text)
        last = rank
        total += int(amount) * _UNITS[unit]
    return total


def number(token: Token) -> float:
    if token.text.lower().startswith("0x"):
        return float(int(token.text, 16))
    return float(token.text)

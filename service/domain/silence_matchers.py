"""Alertmanager label matchers (`=`, `!=`, `=~`, `!~`) in amtool's syntax, with its semantics: pure.

A regex matches the whole value (Alertmanager anchors it as `^(?:re)$`), and a label
the alert does not carry matches as the empty string, so `team!="db"` holds for an
alert without `team` and `team=~".*"` matches every alert.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property, lru_cache

import msgspec

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TOKEN = re.compile(
    r"""\s*(?P<name>[^\s=!~,{}"]+)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s,{}"]*)\s*,?"""
)


class MatcherError(ValueError):
    """A matcher that cannot be used; the message names the matcher and what is wrong."""


class Op(enum.StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class Matcher(msgspec.Struct, frozen=True, dict=True):
    name: str
    op: Op
    value: str

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return compiled(self.value)

    @property
    def is_regex(self) -> bool:
        return self.op in (Op.REGEX, Op.NOT_REGEX)

    @property
    def is_equal(self) -> bool:
        return self.op in (Op.EQUAL, Op.REGEX)

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.op is Op.EQUAL:
            return value == self.value
        if self.op is Op.NOT_EQUAL:
            return value != self.value
        found = self._regex.fullmatch(value) is not None
        return found if self.op is Op.REGEX else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op.value}"{escaped}"'


@lru_cache(maxsize=65_536)
def compiled(pattern: str) -> re.Pattern[str]:
    """Compiled once per process: silences are reloaded from PostgreSQL every second, and compiling
    10,000 regexes each time would cost seconds."""
    return re.compile(pattern, re.DOTALL)


def matcher(name: str, op: str | Op, value: str) -> Matcher:
    """A checked matcher: valid label name, known operator, regex that compiles."""
    if not LABEL_NAME.match(name):
        raise MatcherError(f"{name!r} is not a valid label name")
    try:
        operator = Op(op)
    except ValueError:
        raise MatcherError(f"unknown matcher operator {op!r} (use =, !=, =~ or !~)") from None
    if operator in (Op.REGEX, Op.NOT_REGEX):
        try:
            compiled(value)
        except re.error as exc:
            raise MatcherError(f"{name}{operator.value}{value!r}: invalid regex: {exc}") from None
    return Matcher(name=name, op=operator, value=value)


def from_flags(name: str, value: str, *, is_regex: bool, is_equal: bool = True) -> Matcher:
    """The API's form (`isRegex`, `isEqual`) as a matcher."""
    if is_regex:
        return matcher(name, Op.REGEX if is_equal else Op.NOT_REGEX, value)
    return matcher(name, Op.EQUAL if is_equal else Op.NOT_EQUAL, value)


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), raw[1:-1])
    return raw


def parse_matchers(text: str) -> list[Matcher]:
    """`{a="b", c=~"d.*"}`, `a=b c!=d` or `a="b",c="d"`, as amtool and Alertmanager's filter accept."""
    body = text.strip()
    if body.startswith("{"):
        if not body.endswith("}"):
            raise MatcherError(f"{text!r}: missing closing '}}'")
        body = body[1:-1]
    found: list[Matcher] = []
    position = 0
    while position < len(body):
        if body[position:].strip() in ("", ","):
            break
        token = _TOKEN.match(body, position)
        if token is None:
            rest = body[position:].strip()
            raise MatcherError(f"{rest!r}: expected name=value, name!=value, name=~regex or name!~regex")
        found.append(matcher(token["name"], token["op"], _unquote(token["value"])))
        position = token.end()
    if not found:
        raise MatcherError("no matchers given")
    return found


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def render(matchers: Sequence[Matcher]) -> str:
    return "{" + ", ".join(str(m) for m in matchers) + "}"

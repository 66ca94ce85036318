"""A SQL condition every inhibiting (source) alert meets, so loading the sources reads few rows.

Loading the mute snapshot must find the firing alerts that can inhibit others. Judging all
of them in Python (20,000 firing warnings in an alert storm) every second is the costly
part of a load, while the sources are usually a handful. The condition built here is only
necessary, never sufficient: `name="value"` becomes a jsonb containment, a regex with a
literal prefix a LIKE on that prefix, anything else no condition; each row it lets through
is still judged by the rule's own matchers (InhibitRule.is_source), so the sources found
are exactly the ones a full scan finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.domain.inhibition import InhibitRule
from service.domain.silence_matchers import Matcher, Op

_META = frozenset(".^$*+?()[]{}|\\")
_QUANTIFIERS = frozenset("*?{")


def literal_prefix(pattern: str) -> str:
    """The text every full match of `pattern` starts with ('' when there is none to rely on)."""
    if "|" in pattern:
        return ""
    prefix: list[str] = []
    for char in pattern:
        if char in _META:
            if char in _QUANTIFIERS and prefix:
                prefix.pop()  # `ab*`: the b is optional
            break
        prefix.append(char)
    return "".join(prefix)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _condition(m: Matcher, params: list[Any]) -> str | None:
    if m.op is Op.EQUAL and m.value:
        params.append({m.name: m.value})  # the pool's jsonb codec encodes it
        return f"labels @> ${len(params)}::jsonb"
    if m.op is Op.REGEX:
        prefix = literal_prefix(m.value)
        if prefix:
            params.extend([m.name, _like(prefix)])
            return f"labels ->> ${len(params) - 1}::text LIKE ${len(params)}::text"
    return None


def source_prefilter(rules: Sequence[InhibitRule]) -> tuple[str, list[Any]]:
    """` WHERE …` (or '' when some rule gives nothing to filter on) and its parameters."""
    params: list[Any] = []
    alternatives: list[str] = []
    for rule in rules:
        conditions = [c for c in (_condition(m, params) for m in rule.source_matchers) if c]
        if not conditions:
            return "", []
        alternatives.append("(" + " AND ".join(conditions) + ")")
    if not alternatives:
        return "", []
    return " WHERE " + " OR ".join(alternatives), params

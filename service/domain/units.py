"""Threshold quantities as the runbooks write them: `3%`, `1.5s`, `500ms`, `200 jobs`, `5GB`.

Everything is stored in one base unit per kind so a rule can compare numbers
without knowing how they were spelled: percentages become fractions (`3%` ->
0.03, matching what a ratio of two rates yields), durations become seconds,
sizes become bytes, counts stay counts. The seeds' tables
(004_2522b3a81675c108.txt "Alert Thresholds", 002 "Key Metrics to
Monitor", 000 "Key Metrics to Track") use exactly these spellings.
"""

from __future__ import annotations

import enum
import math
import re

import msgspec


class UnitKind(enum.StrEnum):
    PERCENT = "percent"
    DURATION = "duration"
    COUNT = "count"
    BYTES = "bytes"


class Quantity(msgspec.Struct, frozen=True):
    """A parsed threshold: the value in base units and the text the operator wrote (for messages)."""

    value: float
    kind: UnitKind
    text: str


_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# SI prefixes are powers of 1000, IEC ones powers of 1024; note that pg_size_pretty prints
# binary sizes with SI names, so `5GB` here is 5e9 bytes, a little less than its "5 GB".
_BYTES = {
    "b": 1.0,
    "kb": 1e3,
    "mb": 1e6,
    "gb": 1e9,
    "tb": 1e12,
    "pb": 1e15,
    "kib": 1024.0,
    "mib": 1024.0**2,
    "gib": 1024.0**3,
    "tib": 1024.0**4,
    "pib": 1024.0**5,
}
# Nouns the runbooks count in; a typo should fail loudly rather than become a count.
COUNT_NOUNS = frozenset(
    {
        "job", "connection", "request", "query", "statement", "notification", "login", "attempt",
        "access", "error", "session", "user", "message", "event", "item", "row", "lock", "process",
    }
)  # fmt: skip
_TOKEN = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z%]*)\s*$")
_COMPOUND_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$")


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ches")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def known_units() -> str:
    return "%, ms, s, m, h, d, B, KB, MB, GB, TB, KiB, MiB, GiB, TiB, a bare number, a count noun (jobs)"


def _compound_seconds(text: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text):
        total += float(number) * _DURATION_SECONDS[unit]
    return total


def parse_quantity(raw: str | float) -> Quantity:
    """Parse one threshold; raises ValueError naming the unit that was not understood."""
    if isinstance(raw, bool):
        raise ValueError(f"expected a number with a unit, got {str(raw).lower()}")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise ValueError(f"expected a finite number, got {raw}")
        return Quantity(float(raw), UnitKind.COUNT, str(raw))
    text = raw.strip()
    compact = text.replace(" ", "")
    if _COMPOUND_DURATION.match(compact) and not _TOKEN.match(text):
        return Quantity(_compound_seconds(compact), UnitKind.DURATION, text)
    match = _TOKEN.match(text)
    if match is None:
        raise ValueError(f"cannot read {text!r} as a quantity: expected e.g. 3%, 1.5s, 500ms, 200 jobs, 5GB")
    number = float(match.group(1))
    unit = match.group(2)
    if not unit:
        return Quantity(number, UnitKind.COUNT, text)
    if unit == "%":
        return Quantity(number / 100.0, UnitKind.PERCENT, text)
    if unit in _DURATION_SECONDS:
        return Quantity(number * _DURATION_SECONDS[unit], UnitKind.DURATION, text)
    lowered = unit.lower()
    if lowered in _BYTES and unit.endswith("B"):
        return Quantity(number * _BYTES[lowered], UnitKind.BYTES, text)
    if _singular(lowered) in COUNT_NOUNS:
        return Quantity(number, UnitKind.COUNT, text)
    raise ValueError(f"unknown unit {unit!r} in {text!r} (known: {known_units()})")


def parse_kind(text: str) -> UnitKind:
    try:
        return UnitKind(text.strip().lower())
    except ValueError:
        choices = ", ".join(k.value for k in UnitKind)
        raise ValueError(f"unknown unit kind {text!r}: expected one of {choices}") from None


def _trim(number: float) -> str:
    return f"{number:.4g}" if abs(number) < 1000 else f"{number:.0f}"


def format_quantity(value: float, kind: UnitKind) -> str:
    """Render a base-unit value the way a person would write the threshold (for summaries and pages)."""
    if math.isnan(value):
        return "NaN"
    if kind is UnitKind.PERCENT:
        return f"{_trim(value * 100)}%"
    if kind is UnitKind.DURATION:
        if abs(value) < 1:
            return f"{_trim(value * 1000)}ms"
        for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
            if abs(value) >= size:
                return f"{_trim(value / size)}{unit}"
        return f"{_trim(value)}s"
    if kind is UnitKind.BYTES:
        for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
            if abs(value) >= size:
                return f"{_trim(value / size)}{unit}"
        return f"{_trim(value)}B"
    return str(int(value)) if value == int(value) else _trim(value)

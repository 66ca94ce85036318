"""The careful tier of the exposition parser: one line at a time, everything the format allows.

Used when the bulk tier (`service.sources.exposition`) meets a line it does not
expect: escapes in label values, blanks inside braces, OpenMetrics exemplars.
It also names the problem when a line is wrong, so a scrape error says which
line and why.
"""

from __future__ import annotations

import math
import re

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class ExpositionError(ValueError):
    """The text is not a valid exposition; the message names the line."""


def read_sample(line: str, openmetrics: bool) -> tuple[str, dict[str, str], float, float | None]:
    """The careful path: blanks wherever the format allows them, escapes, exemplars."""
    match = METRIC_NAME.match(line)
    if match is None:
        raise ExpositionError(f"expected a metric name, got {line[:40]!r}")
    name = match.group(0)
    position = _skip_blanks(line, match.end())
    labels: dict[str, str] = {}
    if position < len(line) and line[position] == "{":
        labels, position = _read_labels(line, position + 1)
        if position >= len(line) or line[position] != "}":
            raise ExpositionError(f"{name}: labels not closed with }}")
        position += 1
    rest = line[position:]
    if openmetrics:
        rest = rest.partition(" # ")[0]  # exemplars are not alerted on
    fields = rest.split()
    if not fields:
        raise ExpositionError(f"{name}: missing value")
    if len(fields) > 2:
        raise ExpositionError(f"{name}: unexpected {' '.join(fields[2:])[:40]!r} after value and timestamp")
    value = _number(fields[0], name, "value")
    ts = None
    if len(fields) == 2:
        ts = _number(fields[1], name, "timestamp")
        if math.isnan(ts) or math.isinf(ts):
            raise ExpositionError(f"{name}: bad timestamp {fields[1]!r}")
        if not openmetrics:
            ts /= 1000
    return name, labels, value, ts


def _number(text: str, name: str, what: str) -> float:
    if not strict_float_text(text):
        raise ExpositionError(f"{name}: bad {what} {text[:40]!r}")
    try:
        return float(text)
    except ValueError:
        raise ExpositionError(f"{name}: bad {what} {text[:40]!r}") from None


def strict_float_text(text: str) -> bool:
    """What Go's ParseFloat refuses and Python's float() takes: `1_000`, non-ASCII digits, hex (`p`)."""
    return text.isascii() and "_" not in text and "p" not in text and "P" not in text


def _skip_blanks(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t":
        position += 1
    return position


def _read_labels(text: str, position: int) -> tuple[dict[str, str], int]:
    """Read `a="x", b="y\\"z",` up to the closing brace; returns the labels and where it stopped."""
    labels: dict[str, str] = {}
    end = len(text)
    while True:
        position = _skip_blanks(text, position)
        if position >= end or text[position] == "}":
            return labels, position
        match = LABEL_NAME.match(text, position)
        if match is None:
            raise ExpositionError(f"bad label name at {text[position : position + 20]!r}")
        key = match.group(0)
        position = _skip_blanks(text, match.end())
        if position >= end or text[position] != "=":
            raise ExpositionError(f"label {key}: expected =")
        position = _skip_blanks(text, position + 1)
        if position >= end or text[position] != '"':
            raise ExpositionError(f"label {key}: value must be in double quotes")
        value, position = _read_quoted(text, position + 1, key)
        if key in labels:
            raise ExpositionError(f"label {key} given twice")
        labels[key] = value
        position = _skip_blanks(text, position)
        if position < end and text[position] == ",":
            position += 1
        elif position < end and text[position] != "}":
            raise ExpositionError(f"label {key}: expected , or }} after the value")


def _read_quoted(text: str, position: int, key: str) -> tuple[str, int]:
    chars: list[str] = []
    end = len(text)
    while position < end:
        char = text[position]
        if char == '"':
            return "".join(chars), position + 1
        if char == "\\":
            if position + 1 >= end:
                break
            escaped = text[position + 1]
            # Prometheus' lexer takes any escaped character and replaces only these three: `\t` stays `\t`.
            chars.append(_ESCAPES.get(escaped) or "\\" + escaped)
            position += 2
            continue
        chars.append(char)
        position += 1
    raise ExpositionError(f"label {key}: unterminated value")

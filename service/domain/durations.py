"""Human durations (`90s`, `15m`, `1h30m`, `2d`) as used throughout rules and policy files."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse a Prometheus-style duration; raises ValueError with the offending text."""
    cleaned = text.strip().replace(" ", "")
    if not cleaned:
        raise ValueError("empty duration")
    position = 0
    total = 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        total += float(match.group(1)) * _SECONDS[match.group(2)]
        position = match.end()
    if position != len(cleaned) or position == 0:
        raise ValueError(f"bad duration {text!r}: expected e.g. 30s, 5m, 1h30m, 2d")
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """Render for people: `1h 5m`, `45s`, `2d 3h`."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        value, seconds = divmod(seconds, size)
        if value:
            parts.append(f"{value}{unit}")
    if seconds and len(parts) < 2:
        parts.append(f"{seconds}s")
    return " ".join(parts[:2])

"""Go's way of printing numbers, and Prometheus' humanize functions built on it.

Annotations in Prometheus rule files are Go templates: `{{ $value }}` prints a
float64 with Go's `%v` (`1e+06`, not Python's `1000000.0`), and `humanize`
prints `%.4g` with an SI prefix. People compare these texts with what
Prometheus and Alertmanager showed them, so they are reproduced exactly.
"""

from __future__ import annotations

import math
from decimal import Decimal


def go_float(value: float) -> str:
    """`fmt.Sprint(float64)`: the shortest digits, with an exponent below 1e-4 and from 1e6 up."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    assert isinstance(exponent, int)
    point = len(text) + exponent  # digits before the decimal point
    exp = point - 1
    head = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{head}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{head}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{head}{text}{'0' * (point - len(text))}"
    return f"{head}{text[:point]}.{text[point:]}"


def go_g(value: float, precision: int) -> str:
    """`fmt.Sprintf("%.Ng")`; Python's %g agrees with Go's except for how it spells infinities."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.{precision}g}"


def as_float(value: object) -> float:
    """What Prometheus' `convertToFloat` accepts: numbers and text that reads as one."""
    if isinstance(value, bool):
        raise ValueError(f"cannot convert {value!r} to a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"cannot convert {value!r} to a number") from None
    raise ValueError(f"cannot convert {type(value).__name__} to a number")


def _scaled(v: float, step: float, big: tuple[str, ...], small: tuple[str, ...]) -> tuple[float, str]:
    prefix = ""
    if abs(v) >= 1:
        for p in big:
            if abs(v) < step:
                break
            prefix, v = p, v / step
        return v, prefix
    for p in small:
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return v, prefix


_SI_BIG = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_SI_SMALL = ("m", "u", "n", "p", "f", "a", "z", "y")


def humanize(raw: object) -> str:
    v = as_float(raw)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return go_g(v, 4)
    scaled, prefix = _scaled(v, 1000, _SI_BIG, _SI_SMALL)
    return f"{go_g(scaled, 4)}{prefix}"


def humanize1024(raw: object) -> str:
    v = as_float(raw)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return go_g(v, 4)
    scaled, prefix = _scaled(v, 1024, ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"), ())
    return f"{go_g(scaled, 4)}{prefix}"


def humanize_percentage(raw: object) -> str:
    return f"{go_g(as_float(raw) * 100, 4)}%"


def humanize_duration(raw: object) -> str:
    v = as_float(raw)
    if math.isnan(v) or math.isinf(v):
        return go_g(v, 4)
    if v == 0:
        return f"{go_g(v, 4)}s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        whole = int(v)
        seconds, minutes = whole % 60, (whole // 60) % 60
        hours, days = (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_g(v, 4)}s"
    scaled, prefix = _scaled(v, 1000, (), _SI_SMALL)
    return f"{go_g(scaled, 4)}{prefix}s"

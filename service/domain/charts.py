"""A small SVG line chart of one metric around an incident, for the RCA's "Alert values" section.

Hand-written SVG rather than matplotlib: the output is a few kilobytes of text
that lives in the database next to the RCA version, diffs cleanly, and renders
in any browser. Every piece of text is XML-escaped and stripped of characters
XML 1.0 forbids, so a rule name cannot break the document or smuggle markup.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec

WIDTH = 640
HEIGHT = 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 24, 36, 44

# Characters XML 1.0 does not allow in a document, even escaped.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ChartPoint(msgspec.Struct, frozen=True):
    at: datetime
    value: float


class ChartSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to draw: the series, the threshold it was compared with, and when the incident was open."""

    title: str
    points: tuple[ChartPoint, ...] = ()
    threshold: float | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None

    @property
    def drawable(self) -> bool:
        return any(math.isfinite(p.value) for p in self.points)


def xml_text(text: str) -> str:
    """Escape for XML text and attribute values alike."""
    cleaned = _XML_FORBIDDEN.sub("", text)
    return (
        cleaned.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def format_number(value: float) -> str:
    text = f"{value:.6g}"
    return "0" if text == "-0" else text


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


class _Scale:
    """Maps data coordinates to pixels; padding keeps a flat series or a lone point visible."""

    def __init__(self, spec: ChartSpec, points: Sequence[ChartPoint]) -> None:
        times = [_utc(p.at) for p in points]
        times += [_utc(t) for t in (spec.window_start, spec.window_end) if t is not None]
        self.t0, self.t1 = min(times), max(times)
        if self.t1 == self.t0:
            self.t0 -= timedelta(minutes=1)
            self.t1 += timedelta(minutes=1)
        values = [p.value for p in points]
        if spec.threshold is not None and math.isfinite(spec.threshold):
            values.append(spec.threshold)
        low, high = min(values), max(values)
        pad = (high - low) * 0.1 if high > low else max(abs(high) * 0.1, 1.0)
        self.v0, self.v1 = low - pad, high + pad
        self.plot_w = WIDTH - _LEFT - _RIGHT
        self.plot_h = HEIGHT - _TOP - _BOTTOM

    def x(self, moment: datetime) -> float:
        span = (self.t1 - self.t0).total_seconds()
        offset = (_utc(moment) - self.t0).total_seconds()
        return round(_LEFT + self.plot_w * offset / span, 2)

    def y(self, value: float) -> float:
        return round(_TOP + self.plot_h * (1 - (value - self.v0) / (self.v1 - self.v0)), 2)


def render_line_chart(spec: ChartSpec) -> str | None:
    """Return the SVG document, or None when there is no finite value to draw."""
    points = sorted((p for p in spec.points if math.isfinite(p.value)), key=lambda p: _utc(p.at))
    if not points:
        return None
    scale = _Scale(spec, points)
    bottom = _TOP + scale.plot_h
    right = _LEFT + scale.plot_w
    title = xml_text(spec.title)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title" '
        'font-family="sans-serif" font-size="11">',
        f'<title id="chart-title">{title}</title>',
        f'<rect class="background" x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    if spec.window_start is not None:
        x_start = scale.x(spec.window_start)
        x_end = scale.x(spec.window_end) if spec.window_end is not None else right
        parts.append(
            f'<rect class="incident-window" x="{x_start}" y="{_TOP}" width="{max(x_end - x_start, 1.0)}" '
            f'height="{scale.plot_h}" fill="#f5c6cb" fill-opacity="0.5"><title>incident open</title></rect>'
        )
    parts += [
        f'<line class="axis" x1="{_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333333"/>',
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}" stroke="#333333"/>',
    ]
    for value in (scale.v0, (scale.v0 + scale.v1) / 2, scale.v1):
        y = scale.y(value)
        label = format_number(value)
        parts.append(f'<text class="y-label" x="{_LEFT - 6}" y="{y + 4}" text-anchor="end">{label}</text>')
    for moment, anchor in ((scale.t0, "start"), (scale.t1, "end")):
        x = _LEFT if anchor == "start" else right
        label = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
        parts.append(f'<text class="x-label" x="{x}" y="{bottom + 18}" text-anchor="{anchor}">{label}</text>')
    if spec.threshold is not None and math.isfinite(spec.threshold):
        y = scale.y(spec.threshold)
        shown = xml_text(format_number(spec.threshold))
        parts += [
            f'<line class="threshold" x1="{_LEFT}" y1="{y}" x2="{right}" y2="{y}" stroke="#c0392b" '
            f'stroke-width="1.5" stroke-dasharray="6 4" data-value="{shown}"/>',
            f'<text class="threshold-label" x="{right}" y="{y - 4}" text-anchor="end" fill="#c0392b">'
            f"threshold {shown}</text>",
        ]
    coords = " ".join(f"{scale.x(p.at)},{scale.y(p.value)}" for p in points)
    parts.append(
        f'<polyline class="series" points="{coords}" fill="none" stroke="#2c6fbb" stroke-width="2"/>'
    )
    for point in points:
        stamp = _utc(point.at).strftime("%H:%M:%S")
        parts.append(
            f'<circle class="point" cx="{scale.x(point.at)}" cy="{scale.y(point.value)}" r="3" '
            'fill="#2c6fbb">'
            f"<title>{stamp} UTC: {format_number(point.value)}</title></circle>"
        )
    parts += [
        f'<text class="chart-title" x="{_LEFT}" y="{_TOP - 14}" font-size="13">{title}</text>',
        "</svg>",
        "",
    ]
    return "\n".join(parts)

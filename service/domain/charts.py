"""A small SVG chart of every rule involved in an incident, for the RCA.

One panel per rule, because rules have their own units (a percentage and a job count
cannot share an axis): values in the rule's units on a labelled y axis, the warning and
critical thresholds as labelled lines, the time the incident was open shaded (only while
it was open), and a UTC time axis. Hand-written SVG rather than matplotlib: a few
kilobytes of text stored next to the RCA version. Every piece of text is XML-escaped
and stripped of characters XML 1.0 forbids, so a rule name cannot break the document.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from service.domain.units import UnitKind, format_quantity

WIDTH = 720
PANEL_HEIGHT = 190
_LEFT, _RIGHT, _TOP, _BOTTOM = 84, 120, 34, 40
_HEADER = 26
_LINE_COLOURS = {"warning": "#d68910", "critical": "#c0392b"}
_SERIES_COLOUR = "#2c6fbb"

# Characters XML 1.0 does not allow in a document, even escaped.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ChartPoint(msgspec.Struct, frozen=True):
    at: datetime
    value: float


class ChartLine(msgspec.Struct, frozen=True):
    """A threshold drawn across a panel: `level` is warning or critical."""

    level: str
    value: float


class ChartPanel(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    unit: UnitKind | None = None
    points: tuple[ChartPoint, ...] = ()
    lines: tuple[ChartLine, ...] = ()

    @property
    def drawable(self) -> bool:
        return any(math.isfinite(p.value) for p in self.points)


class ChartSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to draw: one panel per rule, the intervals the incident was open, the time span."""

    title: str
    panels: tuple[ChartPanel, ...] = ()
    open_intervals: tuple[tuple[datetime, datetime], ...] = ()
    start: datetime | None = None
    end: datetime | None = None

    @property
    def drawable(self) -> bool:
        return any(p.drawable for p in self.panels)


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


def shown(value: float, unit: UnitKind | None) -> str:
    """A value as the rule's thresholds are written (`3%`, `1.5s`, `200`)."""
    if unit is None:
        return format_number(value)
    return format_quantity(round(value, 12), unit)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _nice_step(span: float) -> float:
    raw = span / 4 if span > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw))


class _Axes:
    """Pixel mapping of one panel; the value range takes in the thresholds and starts at zero for
    values that cannot be negative (a rate drawn below 0% would mislead)."""

    def __init__(self, panel: ChartPanel, points: Sequence[ChartPoint], t0: datetime, t1: datetime, top: int):
        self.t0, self.t1, self.top = t0, t1, top
        values = [p.value for p in points] + [line.value for line in panel.lines if math.isfinite(line.value)]
        low, high = min(values), max(values)
        if high == low:
            low, high = low - max(abs(low) * 0.1, 1.0), high + max(abs(high) * 0.1, 1.0)
        pad = (high - low) * 0.08
        low, high = low - pad, high + pad
        if min(values) >= 0:
            low = max(low, 0.0)
        self.step = _nice_step(high - low)
        self.v0 = math.floor(low / self.step) * self.step
        self.v1 = math.ceil(high / self.step) * self.step
        self.plot_w = WIDTH - _LEFT - _RIGHT
        self.plot_h = PANEL_HEIGHT - _TOP - _BOTTOM

    def x(self, moment: datetime) -> float:
        span = (self.t1 - self.t0).total_seconds()
        return round(_LEFT + self.plot_w * (_utc(moment) - self.t0).total_seconds() / span, 2)

    def y(self, value: float) -> float:
        return round(self.top + _TOP + self.plot_h * (1 - (value - self.v0) / (self.v1 - self.v0)), 2)

    def ticks(self) -> list[float]:
        count = round((self.v1 - self.v0) / self.step)
        return [self.v0 + i * self.step for i in range(count + 1)]


def _span(spec: ChartSpec, points: Sequence[ChartPoint]) -> tuple[datetime, datetime]:
    times = [_utc(p.at) for p in points] + [_utc(t) for t in (spec.start, spec.end) if t is not None]
    t0, t1 = min(times), max(times)
    if t1 == t0:
        t0, t1 = t0 - timedelta(minutes=1), t1 + timedelta(minutes=1)
    return t0, t1


def _time_ticks(t0: datetime, t1: datetime) -> list[datetime]:
    return [t0 + (t1 - t0) * i / 4 for i in range(5)]


def _panel(spec: ChartSpec, panel: ChartPanel, span: tuple[datetime, datetime], top: int) -> list[str]:
    points = sorted((p for p in panel.points if math.isfinite(p.value)), key=lambda p: _utc(p.at))
    if not points:
        return []
    axes = _Axes(panel, points, *span, top)
    bottom, right = top + _TOP + axes.plot_h, _LEFT + axes.plot_w
    name = xml_text(panel.name)
    parts = [f'<g class="panel" data-rule="{name}">']
    parts.append(f'<text class="panel-title" x="{_LEFT}" y="{top + _TOP - 10}" font-size="13">{name}</text>')
    for start, end in spec.open_intervals:
        x0, x1 = max(axes.x(start), _LEFT), min(axes.x(end), right)
        if x1 > x0:
            parts.append(
                f'<rect class="incident-open" x="{x0}" y="{top + _TOP}" width="{round(x1 - x0, 2)}" '
                f'height="{axes.plot_h}" fill="#f5c6cb" fill-opacity="0.45">'
                "<title>incident open</title></rect>"
            )
    for value in axes.ticks():
        y = axes.y(value)
        parts.append(f'<line class="grid" x1="{_LEFT}" y1="{y}" x2="{right}" y2="{y}" stroke="#e5e5e5"/>')
        label = xml_text(shown(value, panel.unit))
        parts.append(f'<text class="y-label" x="{_LEFT - 6}" y="{y + 4}" text-anchor="end">{label}</text>')
    parts += [
        f'<line class="axis" x1="{_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333333"/>',
        f'<line class="axis" x1="{_LEFT}" y1="{top + _TOP}" x2="{_LEFT}" y2="{bottom}" stroke="#333333"/>',
    ]
    unit = xml_text(panel.unit.value if panel.unit else "value")
    middle = top + _TOP + axes.plot_h / 2
    parts.append(
        f'<text class="y-title" x="14" y="{middle}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle})">{unit}</text>'
    )
    for moment in _time_ticks(*span):
        x = axes.x(moment)
        label = _utc(moment).strftime("%H:%M:%S")
        parts.append(f'<text class="x-label" x="{x}" y="{bottom + 16}" text-anchor="middle">{label}</text>')
    parts.append(f'<text class="x-title" x="{right}" y="{bottom + 32}" text-anchor="end">time (UTC)</text>')
    for line in panel.lines:
        if not math.isfinite(line.value):
            continue
        y, colour = axes.y(line.value), _LINE_COLOURS.get(line.level, "#c0392b")
        text = xml_text(f"{line.level} {shown(line.value, panel.unit)}")
        parts += [
            f'<line class="threshold" data-level="{xml_text(line.level)}" x1="{_LEFT}" y1="{y}" x2="{right}" '
            f'y2="{y}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4"/>',
            f'<text class="threshold-label" x="{right + 6}" y="{y + 4}" fill="{colour}">{text}</text>',
        ]
    coords = " ".join(f"{axes.x(p.at)},{axes.y(p.value)}" for p in points)
    parts.append(
        f'<polyline class="series" points="{coords}" fill="none" stroke="{_SERIES_COLOUR}" stroke-width="2"/>'
    )
    for point in points:
        stamp = _utc(point.at).strftime("%H:%M:%S")
        parts.append(
            f'<circle class="point" cx="{axes.x(point.at)}" cy="{axes.y(point.value)}" r="2.5" '
            f'fill="{_SERIES_COLOUR}"><title>{stamp} UTC: {xml_text(shown(point.value, panel.unit))}'
            "</title></circle>"
        )
    parts.append("</g>")
    return parts


def render_line_chart(spec: ChartSpec) -> str | None:
    """Return the SVG document, or None when no panel has a finite value to draw."""
    panels = [p for p in spec.panels if p.drawable]
    if not panels:
        return None
    every = [pt for p in panels for pt in p.points if math.isfinite(pt.value)]
    span = _span(spec, every)
    height = _HEADER + PANEL_HEIGHT * len(panels)
    title = xml_text(spec.title)
    day = span[0].strftime("%Y-%m-%d")
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="chart-title" '
        'font-family="sans-serif" font-size="11">',
        f'<title id="chart-title">{title}</title>',
        f'<rect class="background" x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text class="chart-title" x="{_LEFT}" y="18" font-size="14">{title} ({day}, UTC)</text>',
    ]
    for index, panel in enumerate(panels):
        parts += _panel(spec, panel, span, _HEADER + index * PANEL_HEIGHT)
    parts += ["</svg>", ""]
    return "\n".join(parts)

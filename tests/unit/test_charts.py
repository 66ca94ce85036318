from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from service.domain.charts import ChartLine, ChartPanel, ChartPoint, ChartSpec, render_line_chart, xml_text
from service.domain.units import UnitKind

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def points(*values: float) -> tuple[ChartPoint, ...]:
    return tuple(ChartPoint(T0 + timedelta(minutes=i), v) for i, v in enumerate(values))


def parse(svg: str | None) -> ET.Element:
    assert svg is not None
    return ET.fromstring(svg.encode())  # noqa: S314 - our own output, parsed to prove it is well-formed


def by_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == name]


def texts(root: ET.Element, name: str) -> list[str]:
    return ["".join(e.itertext()) for e in by_class(root, name)]


ERRORS = ChartPanel(
    name="ErrorRateHigh",
    unit=UnitKind.PERCENT,
    points=points(0.02, 0.05, 0.15, 0.164801, 0.002),
    lines=(ChartLine("warning", 0.03), ChartLine("critical", 0.10)),
)
QUEUE = ChartPanel(
    name="QueueDepthHigh",
    unit=UnitKind.COUNT,
    points=points(3, 120, 260, 3),
    lines=(ChartLine("warning", 50), ChartLine("critical", 200)),
)


def _spec(*panels: ChartPanel, open_for: tuple[int, int] = (1, 3)) -> ChartSpec:
    start, end = (T0 + timedelta(minutes=m) for m in open_for)
    return ChartSpec(title="INC-7: alert values", panels=panels, open_intervals=((start, end),),
                     start=T0, end=T0 + timedelta(minutes=4))  # fmt: skip


def test_every_rule_gets_a_panel_in_its_units_with_labelled_thresholds() -> None:
    root = parse(render_line_chart(_spec(ERRORS, QUEUE)))
    assert [p.get("data-rule") for p in by_class(root, "panel")] == ["ErrorRateHigh", "QueueDepthHigh"]
    errors, queue = by_class(root, "panel")
    error_labels = texts(errors, "y-label")
    assert error_labels[0] == "0%", "a rate never drawn below zero"
    assert all(label.endswith("%") for label in error_labels)
    assert "0.164801" not in ET.tostring(root, encoding="unicode")
    assert texts(errors, "threshold-label") == ["warning 3%", "critical 10%"]
    assert texts(queue, "threshold-label") == ["warning 50", "critical 200"]
    assert texts(errors, "y-title") == ["percent"]
    assert texts(errors, "x-label") == ["12:00:00", "12:01:00", "12:02:00", "12:03:00", "12:04:00"]
    assert texts(errors, "x-title") == ["time (UTC)"]
    # Lines sit where their values are: critical above warning (SVG y grows downwards).
    warning, critical = by_class(errors, "threshold")
    assert float(critical.get("y1", "nan")) < float(warning.get("y1", "nan"))
    # Every y label fits left of the axis.
    assert all(float(e.get("x", "0")) > 40 for e in by_class(root, "y-label"))


def test_the_open_interval_is_shaded_only_where_the_incident_was_open() -> None:
    root = parse(render_line_chart(_spec(ERRORS, open_for=(1, 3))))
    series = by_class(root, "series")[0].get("points", "").split()
    xs = [float(pair.split(",")[0]) for pair in series]
    (shade,) = by_class(root, "incident-open")
    assert float(shade.get("x", "nan")) == xs[1]
    assert float(shade.get("x", "nan")) + float(shade.get("width", "nan")) == xs[3]


def test_all_text_is_escaped_and_xml_safe() -> None:
    panel = ChartPanel(name='<script>alert("x")</script> & \x01rule', points=points(1, 2))
    svg = render_line_chart(ChartSpec(title="<b>t</b>", panels=(panel,)))
    assert svg is not None
    assert "<script>" not in svg
    root = parse(svg)
    assert texts(root, "panel-title") == ['<script>alert("x")</script> & rule']
    assert not [e for e in root.iter() if e.tag.endswith("script")]


def test_no_finite_values_means_no_chart() -> None:
    assert render_line_chart(ChartSpec(title="x")) is None
    empty = ChartPanel(name="r", points=points(float("nan"), float("inf")))
    assert render_line_chart(ChartSpec(title="x", panels=(empty,))) is None


def test_single_point_and_flat_series_stay_inside_the_plot() -> None:
    for panel in (
        ChartPanel(name="one", points=points(3.0)),
        ChartPanel(name="flat", points=points(0, 0, 0), lines=(ChartLine("warning", 0),)),
        ChartPanel(name="nan mixed", points=points(1, float("nan"), 3)),
    ):
        root = parse(render_line_chart(ChartSpec(title="t", panels=(panel,))))
        height = float(root.get("height", "0"))
        for pair in by_class(root, "series")[0].get("points", "").split():
            x, y = (float(n) for n in pair.split(","))
            assert 0 <= y <= height
            assert x >= 0


def test_xml_text_escapes_quotes_for_attributes() -> None:
    assert xml_text("a\"b'c<d>&") == "a&quot;b&#39;c&lt;d&gt;&amp;"

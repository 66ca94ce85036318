from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from service.domain.charts import HEIGHT, ChartPoint, ChartSpec, render_line_chart, xml_text

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def points(*values: float) -> tuple[ChartPoint, ...]:
    return tuple(ChartPoint(T0 + timedelta(minutes=i), v) for i, v in enumerate(values))


def parse(svg: str | None) -> ET.Element:
    assert svg is not None
    return ET.fromstring(svg.encode())  # noqa: S314 - our own output, parsed to prove it is well-formed


def by_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == name]


def test_chart_is_valid_svg_with_threshold_window_and_series() -> None:
    spec = ChartSpec(
        title="INC-7: api_errors",
        points=points(2, 4, 9, 12, 6),
        threshold=5,
        window_start=T0 + timedelta(minutes=2),
        window_end=T0 + timedelta(minutes=4),
    )
    root = parse(render_line_chart(spec))
    assert root.tag == f"{SVG}svg"
    (threshold,) = by_class(root, "threshold")
    assert threshold.get("data-value") == "5"
    assert threshold.get("y1") == threshold.get("y2")
    series = by_class(root, "series")[0].get("points", "").split()
    assert len(series) == 5
    ys = [float(pair.split(",")[1]) for pair in series]
    threshold_y = float(threshold.get("y1", "nan"))
    # SVG y grows downwards: values above the threshold are drawn above its line.
    assert [y < threshold_y for y in ys] == [v > 5 for v in (2, 4, 9, 12, 6)]
    assert ys.index(min(ys)) == 3
    (window,) = by_class(root, "incident-window")
    xs = [float(pair.split(",")[0]) for pair in series]
    assert float(window.get("x", "nan")) == xs[2]
    assert float(window.get("x", "nan")) + float(window.get("width", "nan")) == xs[4]
    assert "threshold 5" in "".join(by_class(root, "threshold-label")[0].itertext())


def test_all_text_is_escaped_and_xml_safe() -> None:
    spec = ChartSpec(title='<script>alert("x")</script> & \x01rule', points=points(1, 2), threshold=None)
    svg = render_line_chart(spec)
    assert svg is not None
    assert "<script>" not in svg
    root = parse(svg)
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == '<script>alert("x")</script> & rule'
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    assert by_class(root, "threshold") == []


def test_no_finite_values_means_no_chart() -> None:
    assert render_line_chart(ChartSpec(title="x")) is None
    assert render_line_chart(ChartSpec(title="x", points=points(float("nan"), float("inf")))) is None


def test_single_point_and_flat_series_stay_inside_the_plot() -> None:
    for spec in (
        ChartSpec(title="one", points=points(3.0)),
        ChartSpec(title="flat", points=points(0, 0, 0), threshold=0),
        ChartSpec(title="nan mixed", points=points(1, float("nan"), 3), threshold=2),
    ):
        root = parse(render_line_chart(spec))
        for pair in by_class(root, "series")[0].get("points", "").split():
            x, y = (float(n) for n in pair.split(","))
            assert 0 <= y <= HEIGHT
            assert x >= 0


def test_xml_text_escapes_quotes_for_attributes() -> None:
    assert xml_text("a\"b'c<d>&") == "a&quot;b&#39;c&lt;d&gt;&amp;"

"""The exposition parser: text 0.0.4 and OpenMetrics, both tiers, and agreement with prometheus_client."""

from __future__ import annotations

import gc
import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service.sources.exposition import ExpositionError, ExpositionParser, parse_exposition

CLASSIC = """\
# HELP http_requests_total Requests served.\\nSecond line of help.
# TYPE http_requests_total counter
http_requests_total{method="GET",status="200"} 1027 1395066363000
http_requests_total{method="POST",status="500"} 3 1395066363000
# A plain comment
# TYPE temperature gauge
temperature -3.5
nan_gauge NaN
up_gauge +Inf
down_gauge -Inf
# TYPE rpc_duration_seconds histogram
rpc_duration_seconds_bucket{le="0.05"} 24054
rpc_duration_seconds_bucket{le="0.1"} 33444
rpc_duration_seconds_bucket{le="+Inf"} 144320
rpc_duration_seconds_sum 53423
rpc_duration_seconds_count 144320
"""


def _by_key(text: str, *, openmetrics: bool = False) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (name, tuple(sorted(labels.items()))): value
        for name, labels, value, _ in parse_exposition(text, openmetrics=openmetrics).samples
    }


def test_classic_text_format() -> None:
    parsed = parse_exposition(CLASSIC)
    assert parsed.types == {
        "http_requests_total": "counter",
        "temperature": "gauge",
        "rpc_duration_seconds": "histogram",
    }
    assert parsed.helps["http_requests_total"] == "Requests served.\nSecond line of help."
    first = parsed.samples[0]
    assert first == ("http_requests_total", {"method": "GET", "status": "200"}, 1027.0, 1395066363.0)
    values = _by_key(CLASSIC)
    assert values[("temperature", ())] == -3.5
    assert math.isnan(values[("nan_gauge", ())])
    assert values[("up_gauge", ())] == math.inf
    assert values[("down_gauge", ())] == -math.inf
    assert values[("rpc_duration_seconds_bucket", (("le", "+Inf"),))] == 144320
    assert len(parsed.samples) == 11


def test_escapes_blanks_and_odd_characters_in_label_values() -> None:
    text = (
        'a{path="C:\\\\dir",quote="say \\"hi\\"",nl="x\\ny"} 1\n'
        'b{ tricky = "}{,#=" , other="v" , } 2\n'
        'c{x="1",} 3\n'
        "d{} 4\n"
        "e\t5\n"
    )
    samples = parse_exposition(text).samples
    assert samples[0][1] == {"path": "C:\\dir", "quote": 'say "hi"', "nl": "x\ny"}
    assert samples[1][1] == {"tricky": "}{,#=", "other": "v"}
    assert samples[2][1] == {"x": "1"}
    assert samples[3][:3] == ("d", {}, 4.0)
    assert samples[4][:3] == ("e", {}, 5.0)


def test_unusual_lines_parse_the_same_as_common_ones() -> None:
    """One escaped line sends the text to the careful tier; the other lines must come out identical."""
    common = CLASSIC + 'x{a="1",b="2",le="0.5"} 7\nx{a="1",b="2",le="+Inf"} 9\n'
    unusual = common + 'y{v="back\\\\slash"} 1\n'
    plain = parse_exposition(common).samples
    careful = parse_exposition(unusual).samples
    assert repr(careful[:-1]) == repr(plain)  # repr: NaN != NaN
    assert careful[-1][1] == {"v": "back\\slash"}


def test_crlf_blank_lines_and_whitespace_lines() -> None:
    text = 'a 1\r\n\r\n\r\n   \nb{x="y"} 2\r\n'
    assert [(n, lb, v) for n, lb, v, _ in parse_exposition(text).samples] == [
        ("a", {}, 1.0),
        ("b", {"x": "y"}, 2.0),
    ]


def test_histogram_buckets_get_their_own_label_dicts() -> None:
    text = "".join(f'h_bucket{{job="a",le="{le}"}} {i}\n' for i, le in enumerate(("0.1", "1", "+Inf")))
    text += 'h_sum{job="a"} 3\n'
    samples = parse_exposition(text).samples
    assert [s[1] for s in samples] == [
        {"job": "a", "le": "0.1"},
        {"job": "a", "le": "1"},
        {"job": "a", "le": "+Inf"},
        {"job": "a"},
    ]


def test_openmetrics_eof_exemplars_created_and_seconds() -> None:
    text = (
        "# TYPE requests counter\n"
        "# UNIT requests requests\n"
        'requests_total{path="/"} 10 1700000000.25 # {trace_id="abc"} 1 1700000000.0\n'
        'requests_created{path="/"} 1690000000\n'
        "# TYPE build_created gauge\n"
        "build_created 5\n"
        "# EOF\n"
    )
    samples = parse_exposition(text, openmetrics=True).samples
    assert samples == [
        ("requests_total", {"path": "/"}, 10.0, 1700000000.25),
        ("requests_created", {"path": "/"}, 1690000000.0, None),  # a series of its own, as Prometheus 2.x
        ("build_created", {}, 5.0, None),
    ]


def test_openmetrics_needs_eof_and_nothing_after_it() -> None:
    with pytest.raises(ExpositionError, match="EOF"):
        parse_exposition("a 1\n", openmetrics=True)
    with pytest.raises(ExpositionError, match="line 3: text after # EOF"):
        parse_exposition("a 1\n# EOF\nb 2\n", openmetrics=True)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("<!DOCTYPE html>", "line 3: expected a metric name"),
        ('m{a="b"}', "line 3: m: missing value"),
        ("m 1 2 3", "line 3: m: unexpected '3'"),
        ("m abc", "line 3: m: bad value 'abc'"),
        ('m{a="1",a="2"} 1', "line 3: label a given twice"),
        ('m{b="1",b="2",} 1', "line 3: label b given twice"),
        ('h{a="1",a="2",} 1', "line 3: label a given twice"),
        ('h{a="1",le="0"} 1\nh{a="1",a="2"} 1', "line 4: label a given twice"),
        ('m{a="x"y",} 1', "line 3: label a: expected , or }"),
        ('m{a="1"b="2"} 1', "line 3: label a: expected , or }"),
        ('m{a="1} 1', "line 3: label a: unterminated value"),
        ('m{a="x"y"} 1', "line 3: label a: expected , or }"),
        ('m{1a="b"} 2', "line 3: bad label name"),
        ('m{a="x\\"} 2', "line 3: label a: unterminated value"),
        ("m 1_000", "line 3: m: bad value '1_000'"),
        ("m 0x1p3", "line 3: m: bad value '0x1p3'"),
        ("m 1 NaN", "line 3: m: bad timestamp"),
        ("# TYPE m bogus", "line 3: unknown metric type 'bogus'"),
        ("# TYPE 9m gauge", "line 3: # TYPE needs a valid metric name"),
    ],
)
def test_malformed_lines_fail_with_their_line_number(line: str, problem: str) -> None:
    text = f'ok 1\nh{{a="1",le="0"}} 1\n{line}\n'
    with pytest.raises(ExpositionError, match=problem.replace("{", r"\{").replace("(", r"\(")):
        parse_exposition(text)


@pytest.mark.parametrize("escape", ["\\t", "\\q", "\\u00e9", "\\\\t"])
def test_unknown_escapes_in_label_values_are_kept_as_prometheus_keeps_them(escape: str) -> None:
    text = f'ok 1\nm{{path="/a{escape}b",x="1"}} 2\n'
    samples = parse_exposition(text).samples
    expected = "/a" + escape.replace("\\\\", "\\") + "b" if escape.startswith("\\\\") else "/a" + escape + "b"
    assert samples[1] == ("m", {"path": expected, "x": "1"}, 2.0, None)


def test_help_keeps_unknown_escapes() -> None:
    helps = parse_exposition("# HELP m a\\tb \\\\ c\\nd\nm 1\n").helps
    assert helps == {"m": "a\\tb \\ c\nd"}


@pytest.mark.parametrize("shape", ["bulk", "careful"])
def test_a_series_given_twice_keeps_its_first_sample_and_counts_the_conflict(shape: str) -> None:
    odd = 'blank  {a="1"}  0\n' if shape == "careful" else ""  # blanks: a line only the careful tier reads
    text = f'm{{a="1"}} 1\nm{{a="2"}} 2\nm{{a="1"}} 3\nm{{a="2"}} 2\nn 4\n{odd}'
    exposition = parse_exposition(text)
    assert [(s[0], s[1], s[2]) for s in exposition.samples][:3] == [
        ("m", {"a": "1"}, 1.0),
        ("m", {"a": "2"}, 2.0),
        ("n", {}, 4.0),
    ]
    assert exposition.duplicates == 1  # the same value again is no conflict, as in Prometheus
    assert exposition.duplicate == 'm{a="1"}'


def test_a_warm_parser_sees_new_values_and_new_series() -> None:
    parser = ExpositionParser()
    first = parser.parse('c{a="1"} 1\nc{a="2"} 2\n').samples
    second = parser.parse('c{a="1"} 5\nc{a="3"} 7\n').samples
    assert [(s[1], s[2]) for s in first] == [({"a": "1"}, 1.0), ({"a": "2"}, 2.0)]
    assert [(s[1], s[2]) for s in second] == [({"a": "1"}, 5.0), ({"a": "3"}, 7.0)]


def test_a_full_cache_is_emptied_rather_than_grown() -> None:
    parser = ExpositionParser(cache_limit=2)
    for round_ in range(3):
        text = "".join(f'c{{a="{round_}-{i}"}} {i}\n' for i in range(5))
        assert [s[1]["a"] for s in parser.parse(text).samples] == [f"{round_}-{i}" for i in range(5)]


def test_empty_text_is_an_empty_exposition() -> None:
    assert parse_exposition("").samples == []
    assert parse_exposition("\n\n# just a comment\n").samples == []


def test_agrees_with_prometheus_client_on_its_own_output() -> None:
    registry = CollectorRegistry()
    counter = Counter("jobs", "Jobs done", ["queue", "outcome"], registry=registry)
    gauge = Gauge("depth", "Queue depth", ["queue"], registry=registry)
    histogram = Histogram("latency_seconds", "Latency", ["route"], registry=registry, buckets=(0.1, 0.5, 2.0))
    for index in range(20):
        counter.labels(f"q{index % 3}", "ok" if index % 4 else 'fail "hard"\\').inc(index)
        gauge.labels(f"q{index}").set(index / 3)
        histogram.labels(f"/r{index % 5}").observe(index / 10)
    text = generate_latest(registry).decode()
    theirs = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert _by_key(text) == theirs
    assert len(theirs) > 60


def test_empty_braces_and_no_braces_are_one_series() -> None:
    exposition = parse_exposition("up 1\nup{} 2\nother 3\nother 3\n")
    assert [(s[0], s[2]) for s in exposition.samples] == [("up", 1.0), ("other", 3.0)]
    assert (exposition.duplicates, exposition.duplicate) == (1, "up{}")


def test_new_label_texts_parsed_in_one_batch_get_their_own_labels() -> None:
    """Label texts of many lengths in one batch: each takes exactly its own pairs, in order."""

    def labels(i: int) -> str:
        return ",".join(f'k{j}="{i}-{j}"' for j in range(i % 7))

    lines = [f"m{i}{{{labels(i)}}} {i}" for i in range(50)]
    lines.append('m{trailing="comma",} 99')  # a text left to the one-at-a-time path
    samples = parse_exposition("\n".join(lines) + "\n").samples
    assert [s[1] for s in samples[:-1]] == [{f"k{j}": f"{i}-{j}" for j in range(i % 7)} for i in range(50)]
    assert samples[-1][1:3] == ({"trailing": "comma"}, 99.0)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_cyclic_collector_is_left_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        parse_exposition(CLASSIC)
        with pytest.raises(ExpositionError):
            parse_exposition("m abc\n")
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()

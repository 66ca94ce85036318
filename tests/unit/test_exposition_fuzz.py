"""Fuzzing the exposition parser: it never crashes or hangs, and agrees with prometheus_client on valid text.

Valid text is what prometheus_client itself writes for generated families (any
label value text, any float), in both formats; invalid text is random bytes of
the exposition alphabet and valid text with random damage. Only `ExpositionError`
may come out, and each parse has a deadline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from service.sources.exposition import ExpositionError, ExpositionParser, parse_exposition

FUZZ = settings(
    max_examples=120, deadline=timedelta(milliseconds=500), suppress_health_check=[HealthCheck.too_slow]
)

NAMES = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True).filter(
    lambda n: not n.endswith(("_total", "_created", "_bucket", "_count", "_sum", "_info")) and n != "le"
)
LABEL_NAMES = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,8}", fullmatch=True)
LABEL_VALUES = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
VALUES = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**53), 2**53).map(float)


@st.composite
def families(draw: st.DrawFn) -> list[Metric]:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    built: list[Metric] = []
    for name in names:
        label_names = draw(st.lists(LABEL_NAMES, max_size=3, unique=True))
        counter = draw(st.booleans())
        family: GaugeMetricFamily | CounterMetricFamily = (
            CounterMetricFamily(name, "fuzzed", labels=label_names)
            if counter
            else GaugeMetricFamily(name, "fuzzed \\ help\nline", labels=label_names)
        )
        rows = draw(st.lists(st.tuples(*[LABEL_VALUES] * len(label_names)), max_size=4, unique=True))
        for values in rows or [()] * (not label_names):
            value = draw(VALUES)
            if counter:
                value = abs(value) if not math.isnan(value) else 0.0
            family.add_metric(list(values), value)
        built.append(family)
    return built


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def _registry(metrics: list[Metric]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(metrics))
    return registry


def _key(value: float) -> str:
    return "nan" if math.isnan(value) else repr(value)


def _theirs(families_: Iterable[Metric]) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
    return sorted(
        (s.name, tuple(sorted(s.labels.items())), _key(s.value))
        for family in families_
        for s in family.samples
    )


def _ours(text: str, *, openmetrics: bool) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
    return sorted(
        (name, tuple(sorted(labels.items())), _key(value))
        for name, labels, value, _ in parse_exposition(text, openmetrics=openmetrics).samples
    )


@FUZZ
@given(families())
def test_agrees_with_prometheus_client_on_its_text_format(metrics: list[Metric]) -> None:
    text = generate_latest(_registry(metrics)).decode()
    assert _ours(text, openmetrics=False) == _theirs(text_string_to_metric_families(text))


@FUZZ
@given(families())
def test_agrees_with_prometheus_client_on_openmetrics(metrics: list[Metric]) -> None:
    text = generate_openmetrics(_registry(metrics)).decode()  # type: ignore[no-untyped-call]
    assert _ours(text, openmetrics=True) == _theirs(parse_openmetrics(text))  # type: ignore[no-untyped-call]


def _survives(text: str, *, openmetrics: bool) -> None:
    try:
        exposition = parse_exposition(text, openmetrics=openmetrics)
    except ExpositionError:
        return
    for name, labels, value, stamp in exposition.samples:
        assert isinstance(name, str)
        assert isinstance(value, float)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
        assert stamp is None or math.isfinite(stamp)


ALPHABET = st.sampled_from([*'abc_:{}=",\\ #\n\t01.e+-InfNa', "TYPE", "HELP", "EOF", "le", "\r\n"])


@FUZZ
@given(st.lists(ALPHABET, max_size=80).map("".join), st.booleans())
def test_random_text_only_ever_raises_an_exposition_error(text: str, openmetrics: bool) -> None:
    _survives(text, openmetrics=openmetrics)


@FUZZ
@given(families(), st.data(), st.booleans())
def test_damaged_valid_text_only_ever_raises_an_exposition_error(
    metrics: list[Metric], data: st.DataObject, openmetrics: bool
) -> None:
    writer = generate_openmetrics if openmetrics else generate_latest
    text = writer(_registry(metrics)).decode()
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        text = text[:at] + data.draw(st.text('ab_{}=",\\ #\n\t1.e+', max_size=3)) + text[at + cut :]
    _survives(text, openmetrics=openmetrics)


def _through_careful_tier(text: str, *, openmetrics: bool) -> str:
    """The same text plus one line only the careful tier reads (blanks before the value)."""
    odd = "zz_careful_only  1\n"
    if openmetrics:
        head, eof, tail = text.rpartition("# EOF")
        return head + odd + eof + tail
    return text + odd


@FUZZ
@given(families(), st.booleans())
def test_bulk_and_careful_tiers_give_identical_samples(metrics: list[Metric], openmetrics: bool) -> None:
    writer = generate_openmetrics if openmetrics else generate_latest
    text = writer(_registry(metrics)).decode()
    common = parse_exposition(text, openmetrics=openmetrics)
    careful = parse_exposition(_through_careful_tier(text, openmetrics=openmetrics), openmetrics=openmetrics)
    assert careful.samples[-1][0] == "zz_careful_only"
    assert repr(careful.samples[:-1]) == repr(common.samples)  # repr: NaN != NaN
    assert careful.types == common.types
    assert (careful.helps, careful.duplicates) == (common.helps, common.duplicates)


@FUZZ
@given(families(), families(), st.booleans())
def test_a_warm_parser_gives_what_a_cold_one_gives(
    earlier: list[Metric], metrics: list[Metric], openmetrics: bool
) -> None:
    writer = generate_openmetrics if openmetrics else generate_latest
    text = writer(_registry(metrics)).decode()
    parser = ExpositionParser()
    parser.parse(writer(_registry(earlier)).decode(), openmetrics=openmetrics)
    parser.parse(text, openmetrics=openmetrics)
    warm = parser.parse(text, openmetrics=openmetrics)
    assert repr(warm) == repr(parse_exposition(text, openmetrics=openmetrics))

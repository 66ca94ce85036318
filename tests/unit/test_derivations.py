"""Derivations from scrape history: gauge, rate with resets, ratio of rates, histogram quantile."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from service.domain.derivations import counter_rate, derive, histogram_quantile, needed_metrics
from service.domain.rules import Signal, SignalKind, parse_selector
from service.domain.scrape_history import ScrapeHistory

T0 = 1_700_000_000.0
FIVE_MINUTES = timedelta(minutes=5)


def _signal(kind: SignalKind, **fields: object) -> Signal:
    return Signal(kind=kind, source="app", **fields)  # type: ignore[arg-type]


def _scrapes(history: ScrapeHistory, series: dict[str, list[tuple[dict[str, str], list[float]]]]) -> None:
    """Feed one scrape every 15 s; series[name] = [(labels, values per scrape)]."""
    steps = max(len(values) for rows in series.values() for _, values in rows)
    for step in range(steps):
        samples = [
            (name, labels, values[step])
            for name, rows in series.items()
            for labels, values in rows
            if step < len(values) and not math.isnan(values[step])
        ]
        history.add(T0 + 15 * step, samples, keep_for=FIVE_MINUTES.total_seconds())


def _rows(rows: list[tuple[dict[str, str], float]]) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(labels.items())): round(value, 9) for labels, value in rows}


# ---- rate --------------------------------------------------------------------------------------


def test_counter_rate_treats_a_drop_as_a_reset() -> None:
    points = [(0.0, 10.0), (15.0, 20.0), (30.0, 5.0), (45.0, 15.0)]
    # A window exactly covering the points: no extrapolation, increase / window.
    assert counter_rate(points, 0.0, 45.0) == pytest.approx((10 + 5 + 10) / 45)


def test_counter_rate_needs_two_points() -> None:
    assert counter_rate([], 0.0, 60.0) is None
    assert counter_rate([(0.0, 3.0)], 0.0, 60.0) is None
    assert counter_rate([(0.0, 3.0), (0.0, 4.0)], 0.0, 60.0) is None
    assert counter_rate([(0.0, 1.0), (15.0, math.nan), (30.0, 4.0)], 0.0, 30.0) == pytest.approx(3 / 30)


def test_counter_rate_extrapolates_to_window_edges_within_one_point_one_intervals() -> None:
    # Scrapes every 15 s, 10 s after the window opens and 5 s before it closes: both gaps are under
    # 1.1 x 15 s, so the increase is stretched over the whole 60 s window (PromQL's extrapolatedRate).
    points = [(10.0, 100.0), (25.0, 115.0), (40.0, 130.0), (55.0, 145.0)]
    assert counter_rate(points, 0.0, 60.0) == pytest.approx(45 * (60 / 45) / 60)


def test_counter_rate_extrapolates_only_half_an_interval_past_a_series_that_ended() -> None:
    # The series vanished 40 s before the window's end (40 s > 1.1 x 15 s): half an interval only.
    points = [(0.0, 100.0), (15.0, 115.0), (30.0, 130.0)]
    assert counter_rate(points, 0.0, 70.0) == pytest.approx(30 * ((30 + 0 + 7.5) / 30) / 70)


def test_counter_rate_of_a_series_born_inside_the_window_stops_at_its_zero_point() -> None:
    """A status="500" counter that first appeared 28 s before the evaluation, in a 5 m window: PromQL
    extrapolates back only to where the counter was zero (1 s before its first sample), not to the
    window's start, and gives about 0.097/s where the raw slope between the two samples is 1/s."""
    at = 1000.0
    points = [(at - 28, 1.0), (at - 13, 16.0)]
    value = counter_rate(points, at - 300, at)
    assert value == pytest.approx(15 * ((15 + 1 + 13) / 15) / 300)
    assert value == pytest.approx(0.0967, abs=1e-4)


def test_counter_rate_far_from_zero_extrapolates_half_an_interval_at_the_start() -> None:
    # Zero point 50 s before the first sample and 285 s of window before it: half an interval.
    points = [(285.0, 100.0), (300.0, 130.0)]
    assert counter_rate(points, 0.0, 300.0) == pytest.approx(30 * ((15 + 7.5 + 0) / 15) / 300)


def test_rate_sums_series_by_labels_and_adds_static_labels() -> None:
    history = ScrapeHistory()
    _scrapes(
        history,
        {
            "cpu_seconds_total": [
                ({"core": "0", "mode": "user"}, [0, 15, 30]),
                ({"core": "1", "mode": "user"}, [0, 30, 60]),
                ({"core": "1", "mode": "idle"}, [0, 150, 300]),
            ]
        },
    )
    at = T0 + 30
    whole = _signal(
        SignalKind.RATE,
        metric=parse_selector('cpu_seconds_total{mode="user"}'),
        window=FIVE_MINUTES,
        by=(),
    )
    # Born inside the 5 m window at zero: no extrapolation before the first sample, increase / 300 s.
    assert _rows(derive(whole, history, at, {"service": "app"})) == {(("service", "app"),): 0.3}
    per_core = _signal(
        SignalKind.RATE, metric=parse_selector("cpu_seconds_total"), window=FIVE_MINUTES, by=("core",)
    )
    assert _rows(derive(per_core, history, at, {})) == {(("core", "0"),): 0.1, (("core", "1"),): 1.2}


def test_rate_uses_only_points_inside_the_window() -> None:
    history = ScrapeHistory()
    # 0..4 minutes: +1/s; then +10/s. A 1m window at the end sees only the fast part.
    values = [float(15 * i) for i in range(17)] + [240.0 + 150 * i for i in range(1, 5)]
    _scrapes(history, {"c_total": [({}, values)]})
    at = T0 + 15 * (len(values) - 1)
    signal = _signal(SignalKind.RATE, metric=parse_selector("c_total"), window=timedelta(minutes=1), by=())
    assert _rows(derive(signal, history, at, {})) == {(): 10.0}


def test_rate_after_a_restart_has_no_value_until_two_scrapes() -> None:
    history = ScrapeHistory()
    signal = _signal(SignalKind.RATE, metric=parse_selector("c_total"), window=FIVE_MINUTES, by=())
    history.add(T0, [("c_total", {}, 100.0)], keep_for=300)
    assert derive(signal, history, T0, {}) == []
    history.add(T0 + 15, [("c_total", {}, 130.0)], keep_for=300)
    assert _rows(derive(signal, history, T0 + 15, {})) == {(): round(30 * (22.5 / 15) / 300, 9)}


# ---- ratio -------------------------------------------------------------------------------------


def _traffic(history: ScrapeHistory, ok: list[float], errors: list[float] | None) -> None:
    rows = [({"status": "200", "path": "/a"}, ok)]
    if errors is not None:
        rows.append(({"status": "503", "path": "/a"}, errors))
    _scrapes(history, {"http_requests_total": rows})


RATIO = _signal(
    SignalKind.RATIO,
    numerator=parse_selector('http_requests_total{status=~"5.."}'),
    denominator=parse_selector("http_requests_total"),
    window=FIVE_MINUTES,
    by=(),
)


def test_ratio_is_the_error_rate() -> None:
    history = ScrapeHistory()
    _traffic(history, ok=[0, 90, 180], errors=[0, 10, 20])
    assert _rows(derive(RATIO, history, T0 + 30, {"service": "app"})) == {(("service", "app"),): 0.1}


def test_ratio_without_any_error_series_has_no_value() -> None:
    """PromQL: `sum(rate(errors)) / sum(rate(total))` with no error series at all is an empty result."""
    history = ScrapeHistory()
    _traffic(history, ok=[0, 90, 180], errors=None)
    assert derive(RATIO, history, T0 + 30, {}) == []


def test_ratio_with_a_quiet_error_series_is_zero() -> None:
    history = ScrapeHistory()
    _traffic(history, ok=[0, 90, 180], errors=[4, 4, 4])
    assert _rows(derive(RATIO, history, T0 + 30, {})) == {(): 0.0}


def test_ratio_over_a_zero_denominator_is_infinite_as_in_promql() -> None:
    history = ScrapeHistory()
    _scrapes(history, {"errors_total": [({}, [0, 5, 10])], "requests_total": [({}, [7, 7, 7])]})
    signal = _signal(
        SignalKind.RATIO,
        numerator=parse_selector("errors_total"),
        denominator=parse_selector("requests_total"),
        window=FIVE_MINUTES,
        by=(),
    )
    assert derive(signal, history, T0 + 30, {}) == [({}, math.inf)]


def test_a_series_appearing_inside_the_window_does_not_inflate_the_ratio() -> None:
    """The false P1: 100 req/s steadily, then a 500 counter appears at 1/s two scrapes before the
    evaluation. PromQL's ratio is about 1%; without extrapolation it looked like 10%."""
    history = ScrapeHistory()
    steps = 21
    ok = [float(1500 * i) for i in range(steps)]
    errors = [math.nan] * (steps - 2) + [1.0, 16.0]
    _traffic(history, ok=ok, errors=errors)
    ((_, value),) = derive(RATIO, history, T0 + 15 * (steps - 1), {})
    error_rate = counter_rate([(0.0, 1.0), (15.0, 16.0)], -285.0, 15.0)
    assert error_rate is not None
    assert value == pytest.approx(error_rate / (100 + error_rate))
    assert value < 0.002


def test_ratio_without_traffic_has_no_value() -> None:
    history = ScrapeHistory()
    _traffic(history, ok=[50, 50, 50], errors=[3, 3, 3])
    assert derive(RATIO, history, T0 + 30, {}) == []


def test_ratio_by_label_matches_numerator_and_denominator_groups() -> None:
    history = ScrapeHistory()
    _scrapes(
        history,
        {
            "calls_total": [
                ({"function": "pdf", "outcome": "success"}, [0, 45, 90]),
                ({"function": "pdf", "outcome": "error"}, [0, 15, 30]),
                ({"function": "mail", "outcome": "success"}, [0, 10, 20]),
                ({"function": "idle", "outcome": "success"}, [7, 7, 7]),
            ]
        },
    )
    signal = _signal(
        SignalKind.RATIO,
        numerator=parse_selector('calls_total{outcome="success"}'),
        denominator=parse_selector("calls_total"),
        window=FIVE_MINUTES,
        by=("function",),
    )
    assert _rows(derive(signal, history, T0 + 30, {})) == {
        (("function", "pdf"),): 0.75,
        (("function", "mail"),): 1.0,
    }


def test_counter_reset_in_a_ratio_does_not_go_negative() -> None:
    history = ScrapeHistory()
    _traffic(history, ok=[1000, 1090, 45, 135], errors=[100, 110, 5, 15])
    ((_, value),) = derive(RATIO, history, T0 + 45, {})
    assert value == pytest.approx((10 + 5 + 10) / (100 + 50 + 100))


# ---- quantile ----------------------------------------------------------------------------------


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    buckets = [(0.05, 0.0), (0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.75)
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.075)


def test_histogram_quantile_edges() -> None:
    assert histogram_quantile(0.95, [(1.0, 90.0), (math.inf, 100.0)]) == 1.0  # rank in +Inf: highest bound
    assert histogram_quantile(0.95, [(0.5, 10.0), (1.0, 20.0)]) is None  # no +Inf bucket
    assert histogram_quantile(0.95, [(math.inf, 10.0)]) is None  # one bucket
    assert histogram_quantile(0.95, [(1.0, 0.0), (math.inf, 0.0)]) is None  # no observations
    assert histogram_quantile(0.5, [(-1.0, 10.0), (math.inf, 10.0)]) == -1.0
    assert histogram_quantile(0.0, [(1.0, 0.0), (math.inf, 10.0)]) is None  # 0/0 inside the bucket: NaN
    assert histogram_quantile(1.5, [(1.0, 5.0), (math.inf, 10.0)]) == math.inf
    assert histogram_quantile(-0.1, [(1.0, 5.0), (math.inf, 10.0)]) == -math.inf
    # A rate that jitters below the previous bucket is treated as monotonic.
    jittered = [(1.0, 10.0), (2.0, 9.0), (3.0, 20.0), (math.inf, 20.0)]
    assert histogram_quantile(0.75, jittered) == pytest.approx(2.5)


def test_quantile_from_bucket_counters_over_the_window() -> None:
    history = ScrapeHistory()
    bounds = ("0.1", "0.5", "1", "+Inf")
    # Per scrape: 50 requests under 0.1s, 40 more under 0.5s, 10 more under 1s.
    per_scrape = (50, 90, 100, 100)
    series = [
        ({"route": "/a", "le": le}, [float(count * step) for step in range(3)])
        for le, count in zip(bounds, per_scrape, strict=True)
    ]
    series.append(({"route": "/b", "le": "+Inf"}, [0.0, 0.0, 0.0]))  # no traffic: no value
    _scrapes(history, {"latency_seconds_bucket": series})
    signal = _signal(
        SignalKind.QUANTILE,
        metric=parse_selector('latency_seconds{route!="/health"}'),
        quantile=0.95,
        window=FIVE_MINUTES,
        by=("route",),
    )
    assert _rows(derive(signal, history, T0 + 30, {})) == {(("route", "/a"),): 0.75}
    assert needed_metrics(signal) == (["latency_seconds_bucket"], 300.0)


# ---- gauge and history -------------------------------------------------------------------------


def test_gauge_is_the_latest_value_of_series_still_exposed() -> None:
    history = ScrapeHistory()
    history.add(T0, [("depth", {"queue": "a"}, 1.0), ("depth", {"queue": "gone"}, 9.0)], keep_for=300)
    history.add(T0 + 15, [("depth", {"queue": "a"}, 4.0), ("depth", {"queue": "b"}, 2.0)], keep_for=300)
    signal = _signal(SignalKind.GAUGE, metric=parse_selector('depth{queue=~"a|gone|b"}'))
    assert _rows(derive(signal, history, T0 + 20, {"team": "x"})) == {
        (("queue", "a"), ("team", "x")): 4.0,
        (("queue", "b"), ("team", "x")): 2.0,
    }
    assert _rows(derive(signal, ScrapeHistory(), T0, {})) == {}


def test_gauge_from_a_scrape_older_than_the_lookback_is_stale() -> None:
    history = ScrapeHistory()
    history.add(T0, [("depth", {}, 1.0)], keep_for=0)
    signal = _signal(SignalKind.GAUGE, metric=parse_selector("depth"))
    assert _rows(derive(signal, history, T0 + 300, {})) == {(): 1.0}
    assert derive(signal, history, T0 + 300.5, {}) == []  # PromQL's 5 m lookback


def test_static_labels_win_over_scraped_ones() -> None:
    history = ScrapeHistory()
    history.add(T0, [("depth", {"service": "scraped"}, 1.0)], keep_for=0)
    signal = _signal(SignalKind.GAUGE, metric=parse_selector("depth"))
    assert _rows(derive(signal, history, T0, {"service": "app"})) == {(("service", "app"),): 1.0}


def test_history_keeps_only_what_the_longest_window_needs() -> None:
    history = ScrapeHistory()
    for step in range(100):
        samples = [("c_total", {"i": "kept"}, float(step))]
        if step < 10:
            samples.append(("c_total", {"i": "vanished"}, float(step)))
        history.add(T0 + 15 * step, samples, keep_for=60)
    (kept,) = history.series("c_total")
    assert kept.labels == {"i": "kept"}
    assert [t - T0 for t, _ in kept.points] == [15 * s for s in range(95, 100)]
    assert len(history) == 1


def test_promql_and_probe_signals_are_not_scrape_derivations() -> None:
    with pytest.raises(ValueError, match="not derived"):
        derive(_signal(SignalKind.PROMQL, query="up"), ScrapeHistory(), T0, {})

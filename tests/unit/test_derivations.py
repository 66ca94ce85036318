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
    assert counter_rate(points) == pytest.approx((10 + 5 + 10) / 45)


def test_counter_rate_needs_two_points() -> None:
    assert counter_rate([]) is None
    assert counter_rate([(0.0, 3.0)]) is None
    assert counter_rate([(0.0, 3.0), (0.0, 4.0)]) is None
    assert counter_rate([(0.0, 1.0), (15.0, math.nan), (30.0, 4.0)]) == pytest.approx(3 / 30)


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
    assert _rows(derive(whole, history, at, {"service": "app"})) == {(("service", "app"),): 3.0}
    per_core = _signal(
        SignalKind.RATE, metric=parse_selector("cpu_seconds_total"), window=FIVE_MINUTES, by=("core",)
    )
    assert _rows(derive(per_core, history, at, {})) == {(("core", "0"),): 1.0, (("core", "1"),): 12.0}


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
    assert _rows(derive(signal, history, T0 + 15, {})) == {(): 2.0}


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


def test_ratio_without_any_error_series_is_zero() -> None:
    history = ScrapeHistory()
    _traffic(history, ok=[0, 90, 180], errors=None)
    assert _rows(derive(RATIO, history, T0 + 30, {})) == {(): 0.0}


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

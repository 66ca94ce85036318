"""Decoding a rule's `signal:` block.

A signal names exactly one derivation (`gauge`, `rate`, `ratio`, `histogram`,
`probe`, `promql`), the source it reads, and what the derived numbers measure,
so a rule comparing a latency with `3%` is caught by `rules check`, not at 3 a.m.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from service.config.fields import Scalar, duration
from service.config.yaml_lines import DataPath, Report, decode
from service.domain.promql_parse import expr_problem
from service.domain.rules import LABEL_PATTERN, Selector, Signal, SignalKind, Sources, parse_selector
from service.domain.units import UnitKind, parse_kind

DEFAULT_WINDOW = timedelta(minutes=5)
_DERIVATIONS = {
    "gauge": SignalKind.GAUGE,
    "rate": SignalKind.RATE,
    "ratio": SignalKind.RATIO,
    "histogram": SignalKind.QUANTILE,
    "probe": SignalKind.PROBE,
    "promql": SignalKind.PROMQL,
}
_WINDOWED = {SignalKind.RATE, SignalKind.RATIO, SignalKind.QUANTILE}


class _Ratio(msgspec.Struct, kw_only=True):
    numerator: str
    denominator: str


class _Signal(msgspec.Struct, kw_only=True):
    source: str | None = None
    gauge: str | None = None
    rate: str | None = None
    ratio: _Ratio | None = None
    histogram: str | None = None
    quantile: str | float | None = None
    probe: str | None = None
    promql: str | None = None
    window: Scalar | None = None
    by: list[str] | None = None
    unit: str | None = None


def _selector(text: str | None, path: DataPath, report: Report) -> tuple[Selector | None, bool]:
    if text is None:
        return None, True
    try:
        return parse_selector(text), True
    except ValueError as exc:
        report.error(path, str(exc))
        return None, False


def _quantile(raw: str | float | None, path: DataPath, report: Report) -> float | None:
    if raw is None:
        report.error(path, "missing: a histogram signal needs quantile (e.g. 0.95 or p95)", line_of=path[:-1])
        return None
    value: float | None = None
    if isinstance(raw, str) and raw.strip().lower().startswith("p"):
        digits = raw.strip()[1:]
        try:
            value = float(digits) / 100 if digits else None
        except ValueError:
            value = None
    elif isinstance(raw, int | float):
        value = float(raw)
    if value is None or not 0 < value < 1:
        report.error(path, f"expected a quantile between 0 and 1 (e.g. 0.95 or p95), got {raw!r}")
        return None
    return value


def implied_unit(kind: SignalKind, metric: Selector | None, sources: Sources) -> UnitKind | None:
    """What the derived numbers measure, read off Prometheus naming conventions where they say."""
    name = metric.name if metric is not None else ""
    if kind is SignalKind.RATIO:
        return UnitKind.PERCENT
    if kind is SignalKind.PROBE:
        probe = sources.probe(name)
        return probe.unit if probe is not None else None
    if kind is SignalKind.RATE:
        if name.endswith("_seconds_total"):
            return UnitKind.PERCENT  # seconds per second: a utilisation, e.g. CPU
        return UnitKind.BYTES if name.endswith("_bytes_total") else UnitKind.COUNT
    if kind in (SignalKind.GAUGE, SignalKind.QUANTILE):
        for suffix, unit in (
            ("_seconds", UnitKind.DURATION),
            ("_bytes", UnitKind.BYTES),
            ("_ratio", UnitKind.PERCENT),
        ):
            if name.endswith(suffix):
                return unit
    return None


def _window_and_by(
    sig: _Signal, kind: SignalKind, path: DataPath, report: Report
) -> tuple[timedelta | None, tuple[str, ...] | None, bool]:
    ok = True
    window = None
    if kind in _WINDOWED:
        window = (
            duration(sig.window, (*path, "window"), report, positive=True) if sig.window else DEFAULT_WINDOW
        )
        ok = window is not None
    elif sig.window is not None:
        report.error((*path, "window"), "window applies to rate, ratio and histogram signals")
        ok = False
    by: tuple[str, ...] | None = () if kind in _WINDOWED else None
    if sig.by is not None:
        if kind not in _WINDOWED:
            report.error((*path, "by"), "by applies to rate, ratio and histogram signals (they are summed)")
            ok = False
        for index, label in enumerate(sig.by):
            if not LABEL_PATTERN.match(label):
                report.error((*path, "by", index), f"not a label name: {label!r}")
                ok = False
        by = tuple(sig.by)
    return window, by, ok


def build_signal(
    raw: dict[str, Any],
    path: DataPath,
    report: Report,
    group_source: str | None,
    sources: Sources,
    broken: frozenset[str] = frozenset(),
) -> Signal | None:
    sig = decode(raw, _Signal, path, report)
    if sig is None:
        return None
    given = [key for key in _DERIVATIONS if getattr(sig, key) is not None]
    if len(given) != 1:
        got = f" (got {', '.join(given)})" if given else ""
        report.error(path, f"give exactly one of {', '.join(_DERIVATIONS)}{got}")
        return None
    kind = _DERIVATIONS[given[0]]
    ok = True
    metric, numerator, denominator = None, None, None
    if kind is SignalKind.RATIO:
        assert sig.ratio is not None
        numerator, good_n = _selector(sig.ratio.numerator, (*path, "ratio", "numerator"), report)
        denominator, good_d = _selector(sig.ratio.denominator, (*path, "ratio", "denominator"), report)
        ok = good_n and good_d
    elif kind is not SignalKind.PROMQL:
        metric, ok = _selector(getattr(sig, given[0]), (*path, given[0]), report)
    elif sig.promql is not None and (problem := expr_problem(sig.promql)) is not None:
        report.error((*path, "promql"), problem)
        ok = False
    source = _source(sig, kind, metric, path, report, group_source, sources, broken)
    ok = ok and source is not None
    quantile = None
    if kind is SignalKind.QUANTILE:
        quantile = _quantile(sig.quantile, (*path, "quantile"), report)
        ok = ok and quantile is not None
    elif sig.quantile is not None:
        report.error((*path, "quantile"), "quantile applies to histogram signals")
        ok = False
    window, by, shaped = _window_and_by(sig, kind, path, report)
    ok = ok and shaped
    unit = implied_unit(kind, metric, sources)
    if sig.unit is not None:
        try:
            declared = parse_kind(sig.unit)
        except ValueError as exc:
            report.error((*path, "unit"), str(exc))
            return None
        if unit is not None and declared is not unit:
            report.error(
                (*path, "unit"), f"a {given[0]} signal on {metric or 'this'} yields a {unit}, not {declared}"
            )
            ok = False
        unit = declared
    if not ok or source is None:
        return None
    return Signal(
        kind=kind,
        source=source,
        metric=metric,
        numerator=numerator,
        denominator=denominator,
        window=window,
        quantile=quantile,
        by=by,
        query=sig.promql.strip() if sig.promql is not None else None,
        unit=unit,
    )


def _source(
    sig: _Signal,
    kind: SignalKind,
    metric: Selector | None,
    path: DataPath,
    report: Report,
    group_source: str | None,
    sources: Sources,
    broken: frozenset[str],
) -> str | None:
    if kind is SignalKind.PROBE:
        if sig.source is not None:
            report.error((*path, "source"), "a probe signal names its probe; remove source")
            return None
        if metric is None:
            return None
        if metric.name in broken:
            return None
        if sources.probe(metric.name) is None:
            names = ", ".join(sorted(p.name for p in sources.sql)) or "none declared"
            report.error((*path, "probe"), f"unknown source: no sql probe named {metric.name!r} ({names})")
            return None
        return metric.name
    source = sig.source or group_source
    if source is None:
        report.error((*path, "source"), "missing: set source on the signal or its group", line_of=path)
        return None
    wanted = "prometheus" if kind is SignalKind.PROMQL else "scrape"
    actual = sources.kind_of(source)
    where = (*path, "source") if sig.source is not None else path
    if actual is None and source in broken:
        return None
    if actual is None:
        report.error(where, f"unknown source {source!r} (declared: {', '.join(sources.names()) or 'none'})")
        return None
    if actual != wanted:
        derivation = "promql" if kind is SignalKind.PROMQL else kind.value
        report.error(
            where, f"source {source!r} is a {actual} source; a {derivation} signal reads a {wanted} source"
        )
        return None
    return source

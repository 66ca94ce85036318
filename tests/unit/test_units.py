from __future__ import annotations

import math
import re

import pytest

from service.domain.units import UnitKind, format_quantity, parse_kind, parse_quantity


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("3%", 0.03, UnitKind.PERCENT),
        ("99.9%", 0.999, UnitKind.PERCENT),
        ("0.1 %", 0.001, UnitKind.PERCENT),
        ("1.5s", 1.5, UnitKind.DURATION),
        ("500ms", 0.5, UnitKind.DURATION),
        ("5m", 300.0, UnitKind.DURATION),
        ("1h", 3600.0, UnitKind.DURATION),
        ("2d", 172800.0, UnitKind.DURATION),
        ("1h30m", 5400.0, UnitKind.DURATION),
        ("200 jobs", 200.0, UnitKind.COUNT),
        ("1 job", 1.0, UnitKind.COUNT),
        ("5 queries", 5.0, UnitKind.COUNT),
        ("50 accesses", 50.0, UnitKind.COUNT),
        ("10 connections", 10.0, UnitKind.COUNT),
        ("42", 42.0, UnitKind.COUNT),
        (42, 42.0, UnitKind.COUNT),
        (0.5, 0.5, UnitKind.COUNT),
        ("5GB", 5e9, UnitKind.BYTES),
        ("5 GiB", 5 * 1024**3, UnitKind.BYTES),
        ("512MB", 512e6, UnitKind.BYTES),
        ("1KiB", 1024.0, UnitKind.BYTES),
        ("2kB", 2000.0, UnitKind.BYTES),
        ("100B", 100.0, UnitKind.BYTES),
    ],
)
def test_parses_runbook_spellings_into_base_units(text: str | float, value: float, kind: UnitKind) -> None:
    quantity = parse_quantity(text)
    assert quantity.kind is kind
    assert quantity.value == pytest.approx(value)
    assert quantity.text == str(text).strip()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("3pct", "unknown unit 'pct'"),
        ("5 widgets", "unknown unit 'widgets'"),
        ("5gb", "unknown unit 'gb'"),  # lower-case b reads as bits: refuse rather than guess
        ("5M", "unknown unit 'M'"),  # minutes are `m`; megabytes are `MB`
        ("", "cannot read"),
        ("fast", "cannot read"),
        ("1.5.2s", "cannot read"),
    ],
)
def test_unknown_units_are_errors_that_name_the_unit(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parse_quantity(text)


def test_booleans_and_non_finite_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="true"):
        parse_quantity(True)
    with pytest.raises(ValueError, match="finite"):
        parse_quantity(math.inf)


def test_unit_kinds_parse_case_insensitively_and_reject_others() -> None:
    assert parse_kind("Percent") is UnitKind.PERCENT
    assert parse_kind(" bytes ") is UnitKind.BYTES
    with pytest.raises(ValueError, match="percent, duration, count, bytes"):
        parse_kind("seconds")


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (0.042, UnitKind.PERCENT, "4.2%"),
        (0.9995, UnitKind.PERCENT, "99.95%"),
        (0.5, UnitKind.DURATION, "500ms"),
        (2.0, UnitKind.DURATION, "2s"),
        (90.0, UnitKind.DURATION, "1.5m"),
        (7200.0, UnitKind.DURATION, "2h"),
        (5e9, UnitKind.BYTES, "5GB"),
        (1.5e6, UnitKind.BYTES, "1.5MB"),
        (512.0, UnitKind.BYTES, "512B"),
        (200.0, UnitKind.COUNT, "200"),
        (2.5, UnitKind.COUNT, "2.5"),
        (123456.0, UnitKind.COUNT, "123456"),
        (math.nan, UnitKind.COUNT, "NaN"),
    ],
)
def test_formats_values_the_way_thresholds_are_written(value: float, kind: UnitKind, text: str) -> None:
    assert format_quantity(value, kind) == text


@pytest.mark.parametrize("text", ["3%", "1.5s", "500ms", "5GB", "200"])
def test_formatting_a_parsed_threshold_gives_it_back(text: str) -> None:
    quantity = parse_quantity(text)
    assert format_quantity(quantity.value, quantity.kind) == text

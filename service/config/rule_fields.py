"""The fields of one threshold rule, each checked on its own: thresholds, severities, direction, unit,
labels and the opt-in `absent` check. Problems go to the report as `file:line: field: problem`."""

from __future__ import annotations

from typing import Any

import msgspec

from service.config.fields import Scalar, duration
from service.config.yaml_lines import DataPath, Report
from service.domain.rules import LABEL_PATTERN, AbsentCheck, Comparison, Level, Signal
from service.domain.severity import Severity
from service.domain.units import Quantity, UnitKind, parse_kind, parse_quantity

DEFAULT_ABSENT_SEVERITY = Severity.P3
COMPARISONS = {
    "above": Comparison.ABOVE,
    ">": Comparison.ABOVE,
    "below": Comparison.BELOW,
    "<": Comparison.BELOW,
}


class RawAbsent(msgspec.Struct, kw_only=True):
    """`absent: {for: 10m, severity: P3}`: page when the rule's signal matches no series that long."""

    for_: Scalar = msgspec.field(name="for")
    severity: str | None = None


class UnitRow(msgspec.Struct, kw_only=True):
    unit: str | None = None


def labels_ok(raw: dict[str, str], path: DataPath, report: Report) -> bool:
    ok = True
    for name in raw:
        if not LABEL_PATTERN.match(name):
            report.error((*path, name), "label names are letters, digits and _ (not starting with a digit)")
            ok = False
    return ok


def threshold(raw: Scalar | None, path: DataPath, report: Report) -> tuple[Quantity | None, bool]:
    if raw is None:
        return None, True
    try:
        return parse_quantity(raw), True
    except ValueError as exc:
        report.error(path, str(exc))
        return None, False


def severity_map(raw: str | dict[str, str], levels: list[Level], path: DataPath, report: Report) -> Any:
    mapping: dict[Level, Severity] = {}
    entries = {level.value: raw for level in levels} if isinstance(raw, str) else dict(raw)
    ok = True
    for key, text in entries.items():
        where = path if isinstance(raw, str) else (*path, key)
        try:
            level = Level(key)
        except ValueError:
            report.error(where, f"unknown level {key!r}: expected warning or critical")
            ok = False
            continue
        try:
            mapping[level] = Severity.parse(text)
        except ValueError as exc:
            report.error(where, str(exc))
            ok = False
    for level in levels:
        if ok and level not in mapping:
            report.error(path, f"no severity for the {level.value} level (e.g. {level.value}: P2)")
            ok = False
    if ok and len(mapping) == 2 and mapping[Level.CRITICAL] > mapping[Level.WARNING]:
        crit, warn = mapping[Level.CRITICAL].label, mapping[Level.WARNING].label
        report.error(path, f"critical ({crit}) must be at least as severe as warning ({warn})")
        ok = False
    return mapping if ok else None


def comparison(raw: str, path: DataPath, report: Report) -> Comparison | None:
    found = COMPARISONS.get(raw.strip().lower())
    if found is None:
        hint = " (an unquoted > or < is YAML block syntax: quote it or write above/below)" if not raw else ""
        report.error(path, f"expected above or below, got {raw!r}{hint}")
    return found


def unit_kind(
    row: UnitRow,
    path: DataPath,
    report: Report,
    signal: Signal | None,
    warning: Quantity | None,
    critical: Quantity | None,
) -> UnitKind | None:
    """The rule's unit kind: declared, or read off its thresholds; it must agree with the signal."""
    declared: UnitKind | None = None
    if row.unit is not None:
        try:
            declared = parse_kind(row.unit)
        except ValueError as exc:
            report.error((*path, "unit"), str(exc))
            return None
    expected = declared or (signal.unit if signal is not None else None)
    because = "the rule's unit" if declared else "its signal"
    ok = True
    for field, quantity in (("warning", warning), ("critical", critical)):
        if quantity is None:
            continue
        if expected is None:
            expected, because = quantity.kind, "the warning threshold"
        elif quantity.kind is not expected:
            hint = (
                f"; write it with a unit, e.g. {example(expected)}" if quantity.kind is UnitKind.COUNT else ""
            )
            report.error(
                (*path, field), f"{quantity.text!r} is a {quantity.kind} but {because} is a {expected}{hint}"
            )
            ok = False
    if declared and signal is not None and signal.unit is not None and signal.unit is not declared:
        report.error((*path, "unit"), f"{declared} does not match the signal, which yields a {signal.unit}")
        ok = False
    return expected if ok else None


def example(kind: UnitKind) -> str:
    return {UnitKind.PERCENT: "3%", UnitKind.DURATION: "1.5s", UnitKind.BYTES: "5GB"}.get(kind, "200")


def ordered(
    comparison: Comparison, warning: Quantity, critical: Quantity, path: DataPath, report: Report
) -> bool:
    if comparison is Comparison.ABOVE and warning.value >= critical.value:
        report.error(path, f"{warning.text} is not below critical {critical.text}: with when: above, "
                     "the warning level must be reached first")  # fmt: skip
        return False
    if comparison is Comparison.BELOW and warning.value <= critical.value:
        report.error(path, f"{warning.text} is not above critical {critical.text}: with when: below, "
                     "the warning level must be reached first")  # fmt: skip
        return False
    return True


def absent_check(raw: RawAbsent, path: DataPath, report: Report, interval: Any) -> AbsentCheck | None:
    waited = duration(raw.for_, (*path, "for"), report, positive=True)
    severity = DEFAULT_ABSENT_SEVERITY
    if raw.severity is not None:
        try:
            severity = Severity.parse(raw.severity)
        except ValueError as exc:
            report.error((*path, "severity"), str(exc))
            return None
    if waited is None:
        return None
    if interval is not None and waited < interval:
        report.error((*path, "for"), f"shorter than the group's interval ({interval.total_seconds():g}s): "
                     "one evaluation without series would page")  # fmt: skip
        return None
    return AbsentCheck(for_=waited, severity=severity, line=report.doc.line(path))

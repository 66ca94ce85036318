"""Loading rule packs (rules/*.yaml) into a RuleSet, with every problem reported as `file:line: field: ...`.

The format is documented in rules/README.md. Files are read together as one
set: a rule may use a source declared in another file (rules/sources.yaml), and
rule, group and source names must be unique across the set. A bad row is
reported and left out; its neighbours are still checked, so one run of
`incidentd rules check` lists everything there is to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from service.config.fields import Scalar, duration
from service.config.prometheus_rules import build_prometheus_groups, is_prometheus_rules
from service.config.rule_fields import (
    RawAbsent,
    UnitRow,
    absent_check,
    comparison,
    labels_ok,
    ordered,
    severity_map,
    threshold,
    unit_kind,
)
from service.config.rule_signals import build_signal
from service.config.rule_sources import build_sources
from service.config.yaml_lines import (
    DataPath,
    Problem,
    Report,
    decode,
    display_path,
    dotted,
    load_located,
)
from service.domain.absence import absent_rule
from service.domain.rules import (
    DEFAULT_GROUP_BY,
    GROUP_BY_ALL,
    LABEL_PATTERN,
    NAME_PATTERN,
    Level,
    Rule,
    RuleGroup,
    RuleSet,
    Signal,
    Sources,
    template_problems,
)

DEFAULT_SUMMARY = "{{ alertname }} is {{ value }}, {{ comparison }} the {{ level }} threshold {{ threshold }}"


class _Rule(UnitRow, kw_only=True):
    # Nothing is required at this stage, so a row missing `signal` still gets its thresholds checked.
    alert: str | None = None
    signal: dict[str, Any] | None = None
    when: str | None = None
    warning: Scalar | None = None
    critical: Scalar | None = None
    for_: Scalar = msgspec.field(default=0, name="for")
    keep_firing_for: Scalar = 0
    severity: str | dict[str, str] | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    group_by: list[str] | None = None
    auto_resolve: bool = False
    absent: RawAbsent | None = None


class _Group(msgspec.Struct, kw_only=True):
    name: str
    interval: Scalar = "1m"
    enabled: bool = True
    source: str | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    rules: list[_Rule]


class _Pack(msgspec.Struct, kw_only=True):
    sources: dict[str, Any] | None = None
    groups: list[_Group] = msgspec.field(default_factory=list)


def rule_files_in(paths: Iterable[Path]) -> list[Path]:
    """Directories contribute their top-level *.yaml (so rules/policy/ and rules/tests/ stay out)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file()))
        else:
            found.append(path)
    return found


def _describer(data: Any) -> Callable[[DataPath], str]:
    """Name fields the way people think of them: `ApiErrorRate.warning`, not `groups[0].rules[3].warning`."""

    def name_at(path: DataPath, key: str) -> str | None:
        node = data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        value = node.get(key) if isinstance(node, dict) else None
        return value if isinstance(value, str) and value else None

    def describe(path: DataPath) -> str:
        if len(path) >= 4 and path[0] == "groups" and path[2] == "rules":
            head = name_at(path[:4], "alert") or name_at(path[:4], "record") or dotted(path[:4])
            return f"{head}.{dotted(path[4:])}" if len(path) > 4 else head
        if len(path) >= 2 and path[0] == "groups":
            name = name_at(path[:2], "name")
            head = f"groups.{name}" if name else dotted(path[:2])
            return f"{head}.{dotted(path[2:])}" if len(path) > 2 else head
        if len(path) >= 3 and path[0] == "sources":
            name = name_at(path[:3], "name")
            head = f"sources.{path[1]}.{name}" if name else dotted(path[:3])
            return f"{head}.{dotted(path[3:])}" if len(path) > 3 else head
        return dotted(path)

    return describe


def load_rules(
    paths: Sequence[Path], *, base: Path | None = None, for_tests: bool = False
) -> tuple[RuleSet, list[Problem]]:
    """Load and validate rule files as one set. Problems are sorted by file and line; a RuleSet is always
    returned (holding whatever was valid) so `incidentd check` can report and a test can inspect it.
    `for_tests` lets Prometheus-format files load without a Prometheus server declared."""
    problems: list[Problem] = []
    parsed: list[tuple[Report, _Pack]] = []
    prometheus: list[Report] = []
    for path in rule_files_in(paths):
        doc, found = load_located(path, shown_as=display_path(path, base))
        problems.extend(found)
        if doc is None:
            continue
        report = Report(doc, _describer(doc.data))
        if is_prometheus_rules(doc.data):
            prometheus.append(report)
            continue
        pack = decode(doc.data, _Pack, (), report)
        if pack is not None:
            parsed.append((report, pack))
        else:
            problems.extend(report.problems)
    sources, broken = build_sources(
        [(report, pack.sources) for report, pack in parsed if pack.sources is not None]
    )
    groups: list[RuleGroup] = []
    rule_seen: dict[str, str] = {}
    group_seen: dict[str, str] = {}
    for report, pack in parsed:
        for index, raw in enumerate(pack.groups):
            group = _build_group(raw, ("groups", index), report, sources, broken, rule_seen, group_seen)
            if group is not None:
                groups.append(group)
    for report in prometheus:
        groups.extend(build_prometheus_groups(report.doc, report, None if for_tests else sources, rule_seen))
    if not parsed and not prometheus and not problems:
        problems.append(Problem(", ".join(str(p) for p in paths) or ".", 1, "(files)", "no rule files found"))
    for report in [*(r for r, _ in parsed), *prometheus]:
        problems.extend(report.problems)
    warnings = tuple(str(p) for p in sorted(problems) if p.warning)
    errors = sorted(p for p in problems if not p.warning)
    return RuleSet(groups=tuple(groups), sources=sources, warnings=warnings), errors


def _build_group(
    raw: _Group,
    path: DataPath,
    report: Report,
    sources: Sources,
    broken: frozenset[str],
    rule_seen: dict[str, str],
    group_seen: dict[str, str],
) -> RuleGroup | None:
    ok = True
    where = f"{report.doc.file}:{report.doc.line(path)}"
    if not raw.name.strip():
        report.error((*path, "name"), "must not be empty")
        ok = False
    elif raw.name in group_seen:
        report.error((*path, "name"), f"duplicate group name {raw.name!r} (first at {group_seen[raw.name]})")
        ok = False
    else:
        group_seen[raw.name] = where
    interval = duration(raw.interval, (*path, "interval"), report, positive=True)
    ok = labels_ok(raw.labels, (*path, "labels"), report) and ok
    if raw.source is not None and sources.kind_of(raw.source) is None and raw.source not in broken:
        report.error((*path, "source"), f"unknown source {raw.source!r}{_known(sources)}")
        ok = False
    rules: list[Rule] = []
    for index, row in enumerate(raw.rules):
        rule_path = (*path, "rules", index)
        rule = _build_rule(row, rule_path, raw, report, sources, broken, interval)
        if row.alert is None:
            continue
        if row.alert in rule_seen:
            first = rule_seen[row.alert]
            report.error((*rule_path, "alert"), f"duplicate rule name {row.alert!r} (first at {first})")
            continue
        rule_seen[row.alert] = f"{report.doc.file}:{report.doc.line(rule_path)}"
        if rule is None:
            continue
        rules.append(rule)
        companion = absent_rule(rule)
        if companion is not None:
            if companion.name in rule_seen:
                report.error((*rule_path, "absent"), f"its alert is named {companion.name!r}, which is "
                             f"already a rule (at {rule_seen[companion.name]}): rename one")  # fmt: skip
                continue
            rule_seen[companion.name] = f"{companion.file}:{companion.line}, the absent: alert of {rule.name}"
            rules.append(companion)
    if not raw.rules:
        report.error((*path, "rules"), "a group needs at least one rule")
    if not ok or interval is None:
        return None
    return RuleGroup(
        name=raw.name,
        interval=interval,
        enabled=raw.enabled,
        rules=tuple(rules),
        file=report.doc.file,
        line=report.doc.line(path),
    )


def _known(sources: Sources) -> str:
    names = sources.names()
    return f" (declared: {', '.join(names)})" if names else " (no sources are declared)"


def _build_rule(
    row: _Rule,
    path: DataPath,
    group: _Group,
    report: Report,
    sources: Sources,
    broken: frozenset[str],
    interval: Any,
) -> Rule | None:
    ok = True
    for field in ("alert", "signal", "when", "severity"):
        if getattr(row, field) is None:
            report.error((*path, field), "missing (required)", line_of=path)
            ok = False
    if row.alert is not None and not NAME_PATTERN.match(row.alert):
        report.error((*path, "alert"), "rule names are letters, digits and _ (e.g. ApiErrorRateHigh)")
        ok = False
    signal: Signal | None = None
    if row.signal is not None:
        signal = build_signal(row.signal, (*path, "signal"), report, group.source, sources, broken)
    direction = comparison(row.when, (*path, "when"), report) if row.when is not None else None
    warning, warning_ok = threshold(row.warning, (*path, "warning"), report)
    critical, critical_ok = threshold(row.critical, (*path, "critical"), report)
    ok = ok and signal is not None and direction is not None and warning_ok and critical_ok
    if row.warning is None and row.critical is None:
        report.error((*path, "critical"), "missing: give warning, critical or both", line_of=path)
        ok = False
    unit = unit_kind(row, path, report, signal, warning, critical)
    if direction is not None and warning is not None and critical is not None:
        ok = ordered(direction, warning, critical, (*path, "warning"), report) and ok
    for_ = duration(row.for_, (*path, "for"), report, positive=False)
    keep = duration(row.keep_firing_for, (*path, "keep_firing_for"), report, positive=False)
    levels = [lv for lv, q in ((Level.WARNING, row.warning), (Level.CRITICAL, row.critical)) if q is not None]
    severity = (
        severity_map(row.severity, levels, (*path, "severity"), report) if row.severity is not None else None
    )
    labels = {**group.labels, **row.labels}
    ok = labels_ok(row.labels, (*path, "labels"), report) and ok
    if not labels.get("service"):
        report.error(
            (*path, "labels"),
            "missing a service label (set it on the rule or its group)",
            line_of=(*path, "labels") if row.labels else path,
        )
        ok = False
    annotations = {"summary": DEFAULT_SUMMARY, **row.annotations}
    for key, template in row.annotations.items():
        for problem in template_problems(template):
            report.error((*path, "annotations", key), problem)
            ok = False
    group_by = tuple(row.group_by) if row.group_by is not None else DEFAULT_GROUP_BY
    for index, name in enumerate(group_by):
        if name != GROUP_BY_ALL and not LABEL_PATTERN.match(name):
            report.error((*path, "group_by", index), f"not a label name: {name!r}")
            ok = False
    absent = None
    if row.absent is not None:
        absent = absent_check(row.absent, (*path, "absent"), report, interval)
        ok = absent is not None and ok
    if not ok or row.alert is None or signal is None or direction is None or unit is None:
        return None
    if for_ is None or keep is None or severity is None or interval is None:
        return None
    return Rule(
        name=row.alert,
        group=group.name,
        signal=signal,
        comparison=direction,
        unit=unit,
        warning=warning,
        critical=critical,
        for_=for_,
        keep_firing_for=keep,
        severity=severity,
        labels=labels,
        annotations=annotations,
        group_by=group_by,
        auto_resolve=row.auto_resolve,
        enabled=group.enabled,
        interval=interval,
        file=report.doc.file,
        line=report.doc.line(path),
        absent=absent,
    )

"""Loading rule files written in Prometheus' own format (`groups: - rules: - alert: expr:`), unchanged.

Teams bring the alerting rules they already run (node-exporter, kube-prometheus
style). Each `expr` becomes an instant PromQL query against a Prometheus server
declared under `sources.prometheus`; every series it returns is an alert, as in
Prometheus. Severity comes from `labels.severity` through the same mapping as
pushed alerts. Recording rules are Prometheus' job: they are reported as a
warning and skipped. Format and differences from Prometheus: rules/README.md,
"Prometheus rule files".
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import msgspec

from service.config.fields import Scalar, duration
from service.config.yaml_lines import DataPath, Located, Report, decode
from service.domain.go_templates import template_problem
from service.domain.label_severity import DEFAULT_LABEL_SEVERITIES, severity_from_labels
from service.domain.promql_parse import expr_problem
from service.domain.rules import (
    LABEL_PATTERN,
    Comparison,
    Level,
    PrometheusAlert,
    Rule,
    RuleGroup,
    Signal,
    SignalKind,
    Sources,
)
from service.domain.severity import Severity
from service.domain.units import UnitKind

DEFAULT_INTERVAL = timedelta(minutes=1)  # Prometheus' default evaluation_interval
_ALERT_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")


class _PromRule(msgspec.Struct, kw_only=True):
    alert: str | None = None
    record: str | None = None
    expr: str | int | float | None = None
    for_: Scalar | None = msgspec.field(default=None, name="for")
    keep_firing_for: Scalar | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)


class _PromGroup(msgspec.Struct, kw_only=True):
    name: str
    interval: Scalar | None = None
    limit: int = 0
    query_offset: Scalar | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    source: str | None = None  # incidentd's own: which Prometheus server, when several are declared
    rules: list[_PromRule] = msgspec.field(default_factory=list)


class _PromFile(msgspec.Struct, kw_only=True):
    groups: list[_PromGroup]


def is_prometheus_rules(data: Any) -> bool:
    """A file is in Prometheus' format when one of its rules has `expr` or `record` (ours have `signal`)."""
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        return False
    for group in data["groups"]:
        rules = group.get("rules") if isinstance(group, dict) else None
        if isinstance(rules, list) and any(
            isinstance(r, dict) and ("expr" in r or "record" in r) for r in rules
        ):
            return True
    return False


def _level(severity: Severity) -> Level:
    return Level.CRITICAL if severity <= Severity.P1 else Level.WARNING


def _server(group: _PromGroup, path: DataPath, report: Report, sources: Sources | None) -> str | None:
    if sources is None:  # rule unit tests: the input series stand in for every server
        return group.source or "test"
    servers = [s.name for s in sources.prometheus]
    if group.source is not None:
        if group.source not in servers:
            known = f" (declared: {', '.join(servers)})" if servers else ""
            report.error((*path, "source"), f"no Prometheus server named {group.source!r}{known}")
            return None
        return group.source
    if len(servers) == 1:
        return servers[0]
    if not servers:
        report.error(
            path, "no Prometheus server to run expr against: declare one under sources.prometheus "
            "(e.g. in rules/sources.yaml)", line_of=path)  # fmt: skip
    else:
        report.error(
            (*path, "source"), f"several Prometheus servers are declared ({', '.join(servers)}): "
            "name the one for this group with source:", line_of=path)  # fmt: skip
    return None


def _labels(raw: dict[str, str], path: DataPath, report: Report) -> bool:
    ok = True
    for name, value in raw.items():
        if not LABEL_PATTERN.match(name):
            report.error((*path, name), "label names are letters, digits and _ (not starting with a digit)")
            ok = False
        elif "{{" in value:
            report.error((*path, name), "templated label values are not supported; write a fixed value")
            ok = False
    return ok


def build_prometheus_groups(
    doc: Located, report: Report, sources: Sources | None, rule_seen: dict[str, str]
) -> list[RuleGroup]:
    """The file's alerting groups; problems and warnings go to `report` (warnings marked as such).
    `sources=None` loads them for unit tests, where no Prometheus server is needed."""
    if "sources" in doc.data:
        report.error(("sources",), "a Prometheus rule file holds only groups: declare sources in another "
                     "file (e.g. rules/sources.yaml)")  # fmt: skip
    data = {k: v for k, v in doc.data.items() if k != "sources"}
    decoded = decode(data, _PromFile, (), report)
    if decoded is None:
        return []
    groups: list[RuleGroup] = []
    names: dict[str, int] = {}
    for index, raw in enumerate(decoded.groups):
        path: DataPath = ("groups", index)
        if raw.name in names:
            report.error(
                (*path, "name"), f"duplicate group name {raw.name!r} (first at line {names[raw.name]})"
            )
            continue
        names[raw.name] = doc.line(path)
        group = _group(raw, path, report, sources, rule_seen)
        if group is not None:
            groups.append(group)
    return groups


def _group(
    raw: _PromGroup, path: DataPath, report: Report, sources: Sources | None, rule_seen: dict[str, str]
) -> RuleGroup | None:
    interval = DEFAULT_INTERVAL
    if raw.interval is not None:
        interval = duration(raw.interval, (*path, "interval"), report, positive=True) or DEFAULT_INTERVAL
    if raw.limit:
        report.warn((*path, "limit"), "ignored: incidentd does not cap the number of alerts per rule")
    if raw.query_offset is not None:
        report.warn((*path, "query_offset"), "ignored: queries run at the evaluation time")
    group_ok = _labels(raw.labels, (*path, "labels"), report)
    server = _server(raw, path, report, sources)
    counts: dict[str, int] = {}
    for row in raw.rules:
        if row.alert:
            counts[row.alert] = counts.get(row.alert, 0) + 1
    rules: list[Rule] = []
    for index, row in enumerate(raw.rules):
        rule = _rule(row, (*path, "rules", index), raw, report, server, interval, counts, rule_seen)
        if rule is not None:
            rules.append(rule)
    if not raw.rules:
        report.error((*path, "rules"), "a group needs at least one rule")
    if server is None or not group_ok:
        return None
    return RuleGroup(
        name=raw.name,
        interval=interval,
        enabled=True,
        rules=tuple(rules),
        file=report.doc.file,
        line=report.doc.line(path),
    )


def _identity(row: _PromRule, alert: str, counts: dict[str, int], path: DataPath) -> str:
    """The rule's own name: the alert name, or for a warning/critical pair sharing it, name~severity."""
    if counts.get(alert, 0) <= 1:
        return alert
    severity = row.labels.get("severity", "").strip()
    suffix = severity if severity and LABEL_PATTERN.match(severity) else str(path[-1])
    return f"{alert}~{suffix}"


def _rule(
    row: _PromRule,
    path: DataPath,
    group: _PromGroup,
    report: Report,
    server: str | None,
    interval: timedelta,
    counts: dict[str, int],
    rule_seen: dict[str, str],
) -> Rule | None:
    if row.record is not None:
        if row.alert is not None:
            report.error((*path, "record"), "give alert or record, not both", line_of=path)
        else:
            report.warn((*path, "record"), "recording rules belong in Prometheus; skipped")
        return None
    if row.alert is None:
        report.error((*path, "alert"), "missing (required)", line_of=path)
        return None
    ok = True
    if not _ALERT_NAME.match(row.alert):
        report.error((*path, "alert"), "alert names are letters, digits, _ and : (e.g. NodeDiskFull)")
        ok = False
    expr = str(row.expr).strip() if row.expr is not None else ""
    if not expr:
        report.error((*path, "expr"), "missing (required)", line_of=path)
        ok = False
    elif (problem := expr_problem(str(row.expr))) is not None:  # as written: positions count from it
        report.error((*path, "expr"), problem)
        ok = False
    for_ = duration(row.for_ if row.for_ is not None else 0, (*path, "for"), report, positive=False)
    keep = duration(row.keep_firing_for or 0, (*path, "keep_firing_for"), report, positive=False)
    ok = _labels(row.labels, (*path, "labels"), report) and ok
    for key, text in row.annotations.items():
        if (problem := template_problem(text)) is not None:
            report.error((*path, "annotations", key), problem)
            ok = False
    labels = {**group.labels, **row.labels}
    word = labels.get("severity", "").strip()
    if word and word.lower() not in DEFAULT_LABEL_SEVERITIES and not _is_p_level(word):
        shown = severity_from_labels({}).label
        report.warn((*path, "labels", "severity"), f"unknown severity {word!r}: pages as {shown}")
    severity = severity_from_labels(labels)
    name = _identity(row, row.alert, counts, path)
    where = f"{report.doc.file}:{report.doc.line(path)}"
    if name in rule_seen and ok:
        report.error((*path, "alert"), f"alert {row.alert!r} is also defined at {rule_seen[name]}; "
                     "incidentd needs alert names unique outside a group")  # fmt: skip
        return None
    rule_seen.setdefault(name, where)
    if not ok or server is None or for_ is None or keep is None:
        return None
    level = _level(severity)
    return Rule(
        name=name,
        group=group.name,
        signal=Signal(kind=SignalKind.PROMQL, source=server, query=expr),
        comparison=Comparison.ABOVE,
        unit=UnitKind.COUNT,
        warning=None,
        critical=None,
        for_=for_,
        keep_firing_for=keep,
        severity={level: severity},
        labels={**labels, "alertname": row.alert},
        annotations=dict(row.annotations),
        interval=interval,
        file=report.doc.file,
        line=report.doc.line(path),
        prometheus=PrometheusAlert(alertname=row.alert, level=level),
    )


def _is_p_level(word: str) -> bool:
    try:
        Severity.parse(word)
    except ValueError:
        return False
    return True

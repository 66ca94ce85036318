"""Prometheus-format rule files: accepted as they are, checked with file:line, evaluated as in Prometheus."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.config.rule_files import load_rules
from service.domain.alert_incidents import incident_title
from service.domain.alerts import AlertStatus
from service.domain.evaluation import current_alerts, evaluate
from service.domain.go_templates import render_template, template_problem
from service.domain.rules import Level, render_annotations
from service.domain.severity import Severity
from service.rules_cli import rules_check, rules_test

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "prometheus" / "node-alerts.yaml"
SOURCES = ROOT / "rules" / "sources.yaml"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ONE_SERVER = "sources:\n  prometheus:\n    - {name: prom, url: http://127.0.0.1:9090}\n"


def _check(tmp_path: Path, text: str, sources: str = ONE_SERVER) -> list[str]:
    (tmp_path / "sources.yaml").write_text(sources)
    (tmp_path / "alerts.yaml").write_text(text)
    out = io.StringIO()
    rules_check([tmp_path], out)
    return out.getvalue().splitlines()


def test_a_typical_public_rule_file_passes_check_with_one_warning_for_its_recording_rule() -> None:
    out = io.StringIO()
    code = rules_check([FIXTURE, SOURCES], out)
    lines = out.getvalue().splitlines()
    assert code == 0, lines
    assert lines[0].endswith(
        "node-alerts.yaml:7: instance:node_cpu_utilisation:rate5m.record: "
        "warning: recording rules belong in Prometheus; skipped"
    )
    assert lines[-1].startswith("ok: 2 files, 2 groups, 7 rules")


def test_rules_read_the_only_prometheus_server_and_take_severity_from_their_label() -> None:
    rules, problems = load_rules([FIXTURE, SOURCES])
    assert problems == []
    by_name = {rule.name: rule for rule in rules.rules()}
    pair = [
        by_name["NodeFilesystemAlmostOutOfSpace~warning"],
        by_name["NodeFilesystemAlmostOutOfSpace~critical"],
    ]
    assert {rule.alertname for rule in pair} == {"NodeFilesystemAlmostOutOfSpace"}
    assert [(r.prometheus and r.prometheus.level, r.severity) for r in pair] == [
        (Level.WARNING, {Level.WARNING: Severity.P2}),
        (Level.CRITICAL, {Level.CRITICAL: Severity.P1}),
    ]
    down = by_name["InstanceDown"]
    assert down.signal.source == "app_prometheus"
    assert down.signal.query == 'up{job="node"} == 0'
    assert down.for_ == timedelta(minutes=5)
    assert down.interval == timedelta(minutes=1)
    errors = by_name["HighErrorRate"]
    assert errors.severity == {Level.CRITICAL: Severity.P1}  # `page`
    assert errors.keep_firing_for == timedelta(minutes=5)


def test_every_series_the_expression_returns_is_an_alert_with_prometheus_labels() -> None:
    rules, _ = load_rules([FIXTURE, SOURCES])
    rule = rules.rule("InstanceDown")
    rows = [
        ({"instance": "a:9100", "job": "node", "severity": "info"}, 0.0),
        ({"instance": "b:9100"}, math.nan),
    ]
    states = evaluate(rule, rows, {}, T0).states
    later = evaluate(rule, rows, states, T0 + timedelta(minutes=5))
    alerts = current_alerts(rule, later.states)
    assert [a.status for a in alerts] == [AlertStatus.FIRING, AlertStatus.FIRING]  # NaN is an alert too
    assert alerts[0].labels == {
        "instance": "a:9100",
        "job": "node",
        "severity": "critical",
        "alertname": "InstanceDown",
    }
    assert alerts[0].annotations["summary"] == "Instance a:9100 down"
    assert alerts[0].severity is Severity.P1
    cleared = evaluate(rule, [], later.states, T0 + timedelta(minutes=6))
    assert [t.kind.value for t in cleared.transitions] == ["resolved", "resolved"]


def test_the_warning_and_critical_twins_share_one_incident() -> None:
    rules, _ = load_rules([FIXTURE, SOURCES])
    warning = rules.rule("NodeFilesystemAlmostOutOfSpace~warning")
    critical = rules.rule("NodeFilesystemAlmostOutOfSpace~critical")
    series = [({"instance": "a:9100", "mountpoint": "/"}, 2.0)]
    keys = {
        alert.group_key
        for rule in (warning, critical)
        for alert in current_alerts(rule, evaluate(rule, series, {}, T0).states)
    }
    assert len(keys) == 1


def test_problems_are_reported_with_file_line_and_field(tmp_path: Path) -> None:
    text = """\
groups:
  - name: g
    rules:
      - alert: NoExpr
        labels: {severity: critical}
      - alert: BadTemplate
        expr: up == 0
        annotations:
          summary: "{{ if $value }}down{{ end }}"
      - alert: BadFor
        expr: up == 0
        for: 5 minutes
      - alert: Unbalanced
        expr: sum(rate(x[5m]) > 1
      - alert: Typo
        expr: up == 0
        lables: {severity: warning}
      - alert: Both
        record: both
        expr: up
      - alert: Templated
        expr: up == 0
        labels: {instance: "{{ $labels.instance }}"}
  - name: h
    rules:
      - alert: NoExpr
        expr: up == 0
"""
    lines = _check(tmp_path, text)
    shown = [
        line.replace(f"{tmp_path}/", "").split("alerts.yaml:", 1)[1]
        for line in lines
        if "alerts.yaml:" in line
    ]
    assert shown == [
        "4: NoExpr.expr: missing (required)",
        "9: BadTemplate.annotations.summary: {{ if }} is not supported in annotations "
        "(only values and functions)",
        "12: BadFor.for: bad duration '5 minutes': expected e.g. 30s, 5m, 1h30m, 2d",
        "14: Unbalanced.expr: not valid PromQL at 1:20 of the expression: unexpected end of input in "
        "aggregation sum, expected ')' (at the end)",
        "17: Typo.lables: unknown field; did you mean 'labels'?",
        "18: Both.record: give alert or record, not both",
        "23: Templated.labels.instance: templated label values are not supported; write a fixed value",
        "26: NoExpr.alert: alert 'NoExpr' is also defined at alerts.yaml:4; "
        "incidentd needs alert names unique outside a group",
    ]
    assert lines[-1].startswith("8 problems in 1 of 2 files")


def test_the_prometheus_server_must_be_known(tmp_path: Path) -> None:
    rule = "groups:\n  - name: g\n    rules:\n      - {alert: A, expr: up == 0}\n"
    none = _check(
        tmp_path, rule, sources="sources:\n  scrape:\n    - {name: s, url: http://127.0.0.1:1/metrics}\n"
    )
    assert "alerts.yaml:2: groups.g: no Prometheus server to run expr against" in none[0]
    two = ONE_SERVER + "    - {name: other, url: http://127.0.0.1:9091}\n"
    several = _check(tmp_path, rule, sources=two)
    assert "groups.g.source: several Prometheus servers are declared (prom, other)" in several[0]
    named = _check(tmp_path, rule.replace("- name: g\n", "- name: g\n    source: other\n"), sources=two)
    assert named[-1].startswith("ok:"), named


def test_annotation_templates_render_like_prometheus() -> None:
    labels = {"instance": "db-1:9100", "job": "node"}
    assert render_template("{{ $value }}", labels, 1234567.0) == "1.234567e+06"
    assert render_template("{{ $value }}", labels, 0.5) == "0.5"
    assert render_template("{{ $value | humanize }}", labels, 1234567.0) == "1.235M"
    assert render_template("{{ humanize $value }}", labels, 0.0312) == "31.2m"
    assert render_template("{{ $value | humanize1024 }}", labels, 2048.0) == "2ki"
    assert render_template("{{ $value | humanizePercentage }}", labels, 0.0909090909) == "9.091%"
    assert render_template("{{ humanizeDuration $value }}", labels, 90061.0) == "1d 1h 1m 1s"
    assert render_template("{{ humanizeDuration $value }}", labels, 0.25) == "250ms"
    assert render_template('{{ printf "%.2f" $value }}%', labels, 3.14159) == "3.14%"
    assert render_template("{{ .Labels.job }}/{{ $labels.instance | stripPort }}", labels, 1.0) == "node/db-1"
    assert render_template("a {{- ' x' }}", labels, 1.0) != ""  # a raw quote is not Go syntax: error text
    assert render_template("{{ $labels.missing }}|{{/* note */}}", labels, 1.0) == "|"


def test_label_values_are_data_never_templates() -> None:
    hostile = {"instance": '{{ printf "%s" "boom" }}', "job": "{{ $value }}"}
    assert render_template("{{ $labels.instance }} {{ $labels.job }}", hostile, 1.0) == (
        '{{ printf "%s" "boom" }} {{ $value }}'
    )


def test_unsupported_template_parts_are_named() -> None:
    assert (
        template_problem('{{ query "up" }}')
        == "query is not supported: incidentd does not run queries from templates"
    )
    assert template_problem("{{ range $labels }}x{{ end }}") is not None
    assert "unknown function 'nope'" in (template_problem("{{ nope $value }}") or "")
    assert template_problem("{{ $value | humanize") == "unbalanced {{ }} in template"


def test_promtool_expression_tests_are_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(FIXTURE.read_text())
    (tmp_path / "t.yaml").write_text(
        "rule_files: [alerts.yaml]\ntests:\n  - interval: 1m\n    input_series: []\n"
        "    promql_expr_test:\n      - {expr: up, eval_time: 1m, exp_samples: []}\n"
    )
    out = io.StringIO()
    assert rules_test([tmp_path / "t.yaml"], out) == 1
    assert "t.yaml:5: tests[0].promql_expr_test: not supported" in out.getvalue()


def test_the_incident_title_is_the_summary_unless_it_quotes_the_value() -> None:
    rules, _ = load_rules([FIXTURE, SOURCES])
    down, cpu = rules.rule("InstanceDown"), rules.rule("NodeHighCpuUsage")
    labels = {"instance": "a:9100", "job": "node"}
    shown = render_annotations(down, labels, 0.0, Level.CRITICAL)
    assert incident_title(down, labels, shown) == "Instance a:9100 down"
    # "CPU usage on a:9100 is 97.5%" would still say 97.5% when the host is at 60%.
    shown = render_annotations(cpu, labels, 97.5, Level.WARNING)
    assert "97.5" in shown["summary"]
    assert incident_title(cpu, labels, shown) == "Node high cpu usage"
    assert incident_title(cpu, {**labels, "service": "db"}, shown) == "Node high cpu usage on db"

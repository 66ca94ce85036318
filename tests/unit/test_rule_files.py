from __future__ import annotations

import re
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from service.config.rule_files import load_rules, rule_files_in
from service.domain.rules import SELF_DATABASE, Comparison, Level, SignalKind
from service.domain.severity import Severity
from service.domain.units import UnitKind

RULES = Path(__file__).resolve().parents[2] / "rules"
SEED = re.compile(r"\b00[0-4]_[0-9a-f]{16}\.txt\b")

# Lines 1-19 of every bad-row case; the row under test (`- alert: Bad`) is line 20.
HEAD = """\
sources:
  scrape:
    - name: app
      url: http://127.0.0.1:9/metrics
  sql:
    - name: jobs
      database: APP_DATABASE_URL
      query: SELECT 1 AS value
groups:
  - name: g
    labels: {service: api}
    source: app
    rules:
      - alert: Good
        signal: {gauge: queue_depth}
        when: above
        warning: 50 jobs
        critical: 200 jobs
        severity: {warning: P3, critical: P2}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems_for(path: Path) -> list[str]:
    _, problems = load_rules([path])
    return [str(p).removeprefix(f"{path}:") for p in problems]


GOOD = """
# A pack as an SRE would write it.
sources:
  scrape:
    - name: app
      url_env: APP_METRICS_URL
      interval: 30s
      timeout: 10s
  prometheus:
    - name: prom
      url: http://prometheus:9090
  sql:
    - name: jobs_by_status
      database: APP_DATABASE_URL
      query: SELECT status, count(*)::float8 AS value FROM jobs GROUP BY status
      unit: count
      requires_extension: pg_stat_statements
groups:
  - name: api
    interval: 30s
    source: app
    labels: {service: api, team: web}
    rules:
      - alert: ErrorRate
        signal:
          ratio:
            numerator: http_requests_total{status=~"5.."}
            denominator: http_requests_total
          by: [path]
        when: above
        warning: 3%
        critical: 10%
        for: 5m
        keep_firing_for: 10m
        severity: {warning: P2, critical: P1}
        labels: {team: payments}
        annotations:
          runbook: https://runbooks.example/errors
      - alert: Latency
        signal: {histogram: http_request_duration_seconds, quantile: p95, window: 10m}
        when: ">"
        warning: 1.5s
        critical: 3s
        severity: P2
        group_by: [alertname, service, path]
        auto_resolve: true
  - name: hosts
    enabled: false
    labels: {service: hosts}
    rules:
      - alert: Down
        signal: {source: prom, promql: max(up), unit: count}
        when: below
        critical: 1
        severity: {critical: P0}
      - alert: Queue
        signal: {probe: 'jobs_by_status{status="pending"}'}
        when: above
        warning: 50 jobs
        severity: P3
"""


def test_a_good_file_decodes_into_rules_and_sources(tmp_path: Path) -> None:
    rules, problems = load_rules([write(tmp_path, "pack.yaml", GOOD)])
    assert problems == []
    error_rate = rules.rule("ErrorRate")
    assert error_rate.signal.kind is SignalKind.RATIO
    assert error_rate.signal.source == "app"  # from the group
    assert str(error_rate.signal.numerator) == 'http_requests_total{status=~"5.."}'
    assert error_rate.signal.window == timedelta(minutes=5)  # the default window
    assert error_rate.signal.by == ("path",)
    assert error_rate.unit is UnitKind.PERCENT
    assert error_rate.warning is not None
    assert error_rate.warning.value == pytest.approx(0.03)
    assert error_rate.comparison is Comparison.ABOVE
    assert (error_rate.for_, error_rate.keep_firing_for) == (timedelta(minutes=5), timedelta(minutes=10))
    assert error_rate.severity == {Level.WARNING: Severity.P2, Level.CRITICAL: Severity.P1}
    assert error_rate.labels == {"service": "api", "team": "payments"}
    assert error_rate.annotations["runbook"] == "https://runbooks.example/errors"
    assert "summary" in error_rate.annotations
    assert error_rate.group_by == ("alertname", "service")
    assert error_rate.auto_resolve is False
    assert error_rate.interval == timedelta(seconds=30)
    assert (error_rate.file, error_rate.line) == (str(tmp_path / "pack.yaml"), 23)

    latency = rules.rule("Latency")
    assert latency.signal.quantile == pytest.approx(0.95)
    assert latency.signal.window == timedelta(minutes=10)
    assert latency.unit is UnitKind.DURATION
    assert latency.severity == {Level.WARNING: Severity.P2, Level.CRITICAL: Severity.P2}
    assert latency.group_by == ("alertname", "service", "path")
    assert latency.auto_resolve is True
    assert latency.for_ == timedelta(0)

    down = rules.rule("Down")
    assert (down.enabled, down.comparison, down.signal.query) == (False, Comparison.BELOW, "max(up)")
    assert down.interval == timedelta(minutes=1)
    queue = rules.rule("Queue")
    assert queue.signal.kind is SignalKind.PROBE
    assert queue.signal.source == "jobs_by_status"
    assert queue.unit is UnitKind.COUNT

    assert [s.url_env for s in rules.sources.scrape] == ["APP_METRICS_URL"]
    assert rules.sources.scrape[0].timeout == timedelta(seconds=10)
    probe = rules.sources.sql[0]
    assert (probe.database, probe.requires_extension, probe.value_column) == (
        "APP_DATABASE_URL",
        "pg_stat_statements",
        "value",
    )
    assert [r.name for r in rules.enabled_rules()] == ["ErrorRate", "Latency"]


ROW_CASES = [
    pytest.param(
        "signal: {gauge: queue_depth}\nwhen: above\nwarning: 3pct\nseverity: P3",
        ["23: Bad.warning: unknown unit 'pct' in '3pct'"],
        id="unknown unit",
    ),
    pytest.param(
        "signal: {gauge: latency_seconds}\nwhen: above\nwarning: 2s\ncritical: 1s\nseverity: P2",
        [
            "23: Bad.warning: 2s is not below critical 1s: with when: above, the warning level must be "
            "reached first"
        ],
        id="warning above critical",
    ),
    pytest.param(
        "signal: {gauge: availability_ratio}\nwhen: below\nwarning: 95%\ncritical: 99%\nseverity: P2",
        [
            "23: Bad.warning: 95% is not above critical 99%: with when: below, the warning level must be "
            "reached first"
        ],
        id="warning below critical for below",
    ),
    pytest.param(
        "signal: {gauge: x, source: nope}\nwhen: above\nwarning: 5\nseverity: P3",
        ["21: Bad.signal.source: unknown source 'nope' (declared: app, jobs)"],
        id="unknown source",
    ),
    pytest.param(
        "signal: {promql: up}\nwhen: below\ncritical: 1\nseverity: P0",
        ["21: Bad.signal: source 'app' is a scrape source; a promql signal reads a prometheus source"],
        id="source of the wrong kind",
    ),
    pytest.param(
        "signal: {probe: nope}\nwhen: above\nwarning: 5\nseverity: P3",
        ["21: Bad.signal.probe: unknown source: no sql probe named 'nope' (jobs)"],
        id="unknown probe",
    ),
    pytest.param(
        "signal: {gauge: q}\nwhen: above\nwarning: 5\nfor: 5 minutes\nseverity: P3",
        ["24: Bad.for: bad duration '5 minutes': expected e.g. 30s, 5m, 1h30m, 2d"],
        id="bad duration",
    ),
    pytest.param(
        "signal: {gauge: q}\nwhen: above\nwarning: 5\nkeep_firing_for: 300\nseverity: P3",
        ["24: Bad.keep_firing_for: bad duration 300: add a unit, e.g. 300s or 300m"],
        id="duration without a unit",
    ),
    pytest.param(
        "signal: {gauge: q}\nwhen: above\nwarning: 5\ncritical: 9\nseverity: {warning: P3, critical: P7}",
        ["25: Bad.severity.critical: unknown severity 'P7': expected one of P0, P1, P2, P3"],
        id="unknown severity",
    ),
    pytest.param(
        "signal: {gauge: q}\nwhen: above\nwarning: 5\ncritical: 9\nseverity: {warning: P3}",
        ["25: Bad.severity: no severity for the critical level (e.g. critical: P2)"],
        id="severity missing a level",
    ),
    pytest.param(
        "signal: {gauge: q}\nwhen: above\nwarning: 5\ncritical: 9\nseverity: {warning: P1, critical: P3}",
        ["25: Bad.severity: critical (P3) must be at least as severe as warning (P1)"],
        id="critical less severe than warning",
    ),
    pytest.param(
        "warning: 5",
        [
            "20: Bad.severity: missing (required)",
            "20: Bad.signal: missing (required)",
            "20: Bad.when: missing (required)",
        ],
        id="missing fields",
    ),
    pytest.param(
        "signal: {gauge: q}\nwhen: above\nseverity: P3",
        ["20: Bad.critical: missing: give warning, critical or both"],
        id="no thresholds",
    ),
    pytest.param(
        "signal: {gauge: latency_seconds}\nwhen: above\nwarning: 3%\nseverity: P3",
        ["23: Bad.warning: '3%' is a percent but its signal is a duration"],
        id="unit kind does not match the signal",
    ),
    pytest.param(
        "signal: {gauge: latency_seconds}\nwhen: above\nwarning: 3\nseverity: P3",
        ["23: Bad.warning: '3' is a count but its signal is a duration; write it with a unit, e.g. 1.5s"],
        id="bare number for a duration",
    ),
    pytest.param(
        "signal: {gauge: q}\nwhen: above\nwarning: 5\ncritcal: 9\nseverity: P3",
        ["24: Bad.critcal: unknown field; did you mean 'critical'?"],
        id="misspelt field",
    ),
    pytest.param(
        "signal: {gauge: q}\nwhen: >\nwarning: 5\nseverity: P3",
        [
            "22: Bad.when: expected above or below, got '' (an unquoted > or < is YAML block syntax: "
            "quote it or write above/below)"
        ],
        id="unquoted comparison",
    ),
    pytest.param(
        "signal: {gauge: q, window: 5m}\nwhen: above\nwarning: 5\nseverity: P3",
        ["21: Bad.signal.window: window applies to rate, ratio and histogram signals"],
        id="window on a gauge",
    ),
    pytest.param(
        "signal: {gauge: q, rate: q}\nwhen: above\nwarning: 5\nseverity: P3",
        [
            "21: Bad.signal: give exactly one of gauge, rate, ratio, histogram, probe, promql "
            "(got gauge, rate)"
        ],
        id="two derivations",
    ),
    pytest.param(
        "signal: {gauge: q}\nwhen: above\nwarning: 5\nseverity: P3\nannotations: {summary: '{{ valeu }}'}",
        ["25: Bad.annotations.summary: unknown placeholder {{ valeu }}"],
        id="unknown template placeholder",
    ),
    pytest.param(
        "signal: {gauge: q}\nwhen: above\nwarning: 5\nseverity: P3\nlabels: {service: ''}",
        ["25: Bad.labels: missing a service label (set it on the rule or its group)"],
        id="no service label",
    ),
    pytest.param(
        "signal: {gauge: q}\nwhen: above\nwarning: 5\nseverity: P3\nlabels: {2bad: x}",
        ["25: Bad.labels.2bad: label names are letters, digits and _ (not starting with a digit)"],
        id="bad label name",
    ),
]


@pytest.mark.parametrize(("row", "expected"), ROW_CASES)
def test_each_kind_of_bad_row_is_reported_at_its_line_and_field(
    tmp_path: Path, row: str, expected: list[str]
) -> None:
    body = textwrap.indent("- alert: Bad\n" + textwrap.indent(row, "  "), "      ")
    path = tmp_path / "pack.yaml"
    path.write_text(HEAD + body + "\n", encoding="utf-8")
    found = problems_for(path)
    assert len(found) == len(expected), found
    for got, want in zip(found, expected, strict=True):
        assert got.startswith(want), (got, want)


def test_every_bad_row_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pack.yaml",
        """
        sources:
          sql:
            - name: db
              database: APP_DATABASE_URL
              query: ""
        groups:
          - name: g
            labels: {service: api}
            rules:
              - alert: A
                signal: {probe: db}
                when: above
                warning: 3pct
                severity: P3
              - alert: B
                signal: {probe: db}
                when: above
                warning: 5
                severity: P9
              - alert: C
                signal: {probe: db}
                when: sideways
                warning: 5
                severity: P3
              - alert: D
                signal: {probe: db}
                when: above
                warning: 5
                severity: P3
        """,
    )
    rules, problems = load_rules([path])
    assert [(p.line, p.field) for p in problems] == [
        (5, "sources.sql.db.query"),
        (13, "A.warning"),
        (19, "B.severity"),
        (22, "C.when"),
    ]
    assert list(rules.rules()) == []  # D is fine but its probe is not, so it cannot be built either


def test_duplicate_rule_names_are_reported_across_files(tmp_path: Path) -> None:
    row = """
        groups:
          - name: {group}
            labels: {{service: api}}
            rules:
              - alert: Same
                signal: {{probe: db}}
                when: above
                warning: 5
                severity: P3
        """
    write(tmp_path, "a.yaml", row.format(group="one"))
    write(tmp_path, "b.yaml", row.format(group="two"))
    sources = "sources:\n  sql:\n    - {name: db, database: self, query: SELECT 1 AS value}\n"
    (tmp_path / "sources.yaml").write_text(sources, encoding="utf-8")
    rules, problems = load_rules([tmp_path])
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'b.yaml'}:5: Same.alert: duplicate rule name 'Same' (first at {tmp_path / 'a.yaml'}:5)"
    ]
    assert [r.group for r in rules.rules()] == ["one"]
    assert rules.sources.sql[0].database == SELF_DATABASE


def test_duplicate_group_and_source_names_are_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pack.yaml",
        """
        sources:
          scrape:
            - {name: app, url: "http://a:1/metrics"}
          prometheus:
            - {name: app, url: "http://b:9090"}
        groups:
          - name: g
            labels: {service: api}
            rules:
              - {alert: A, signal: {gauge: q, source: app}, when: above, warning: 5, severity: P3}
          - name: g
            labels: {service: api}
            rules:
              - {alert: B, signal: {gauge: q, source: app}, when: above, warning: 5, severity: P3}
        """,
    )
    assert problems_for(path) == [
        "5: sources.prometheus.app.name: duplicate source name 'app' (first at " + f"{path}:3)",
        "11: groups.g.name: duplicate group name 'g' (first at " + f"{path}:7)",
    ]


def test_yaml_syntax_errors_carry_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "groups:\n  - name: g\n    rules: [\n      - alert: A\n")
    (problem,) = problems_for(path)
    assert problem.startswith("4: yaml: syntax error: ")


def test_duplicate_yaml_keys_are_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dup.yaml",
        HEAD.replace("        when: above\n", "        when: above\n        when: below\n", 1),
    )
    assert problems_for(path) == [
        "17: Good.when: duplicate key (YAML keeps only the last)",
        # ...and the last one is what the rule then means:
        "18: Good.warning: 50 jobs is not above critical 200 jobs: with when: below, the warning level "
        "must be reached first",
    ]


def test_a_dsn_written_into_a_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "leak.yaml",
        """
        sources:
          sql:
            - name: db
              database: postgresql://app:hunter2@db.internal/app
              query: SELECT 1 AS value
        """,
    )
    (problem,) = problems_for(path)
    assert problem.startswith("4: sources.sql.db.database: write the name of an environment variable")
    assert "hunter2" not in problem


def test_source_problems_are_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sources.yaml",
        """
        sources:
          scrape:
            - {name: a, url: "ftp://x/metrics"}
            - {name: b, url: "http://x/metrics", url_env: B_URL}
            - {name: c, url: "http://x/metrics", interval: 10s, timeout: 30s}
          sql:
            - {name: d, database: self, query: SELECT 1, unit: widgets}
        """,
    )
    assert problems_for(path) == [
        "3: sources.scrape.a.url: expected an http:// or https:// URL",
        "4: sources.scrape.b: give exactly one of url or url_env",
        "5: sources.scrape.c.timeout: must not be longer than interval (scrapes would overlap)",
        "7: sources.sql.d.unit: unknown unit kind 'widgets': expected one of percent, duration, count, bytes",
    ]


def test_yaml_merge_keys_work_for_shared_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "merge.yaml",
        """
        sources:
          scrape: [{name: app, url: "http://a:1/metrics"}]
        groups:
          - name: g
            labels: {service: api}
            source: app
            rules:
              - &base {alert: A, signal: {gauge: q}, when: above, warning: 5, for: 3m, severity: P3}
              - {<<: *base, alert: B, warning: 7}
        """,
    )
    rules, problems = load_rules([path])
    assert problems == []
    b = rules.rule("B")
    assert (b.for_, b.warning.value if b.warning else None) == (timedelta(minutes=3), 7.0)


def test_directories_contribute_only_their_top_level_yaml() -> None:
    files = {p.name for p in rule_files_in([RULES])}
    assert "severities.yaml" not in files  # rules/policy/
    assert {"sources.yaml", "incidentd.yaml", "thresholds-004.yaml"} <= files
    assert all(p.parent == RULES for p in rule_files_in([RULES]))


def test_the_shipped_packs_load_cleanly() -> None:
    rules, problems = load_rules([RULES])
    assert problems == []
    names = {r.name for r in rules.rules()}
    assert {
        "ApiResponseTimeHigh",
        "ErrorRateHigh",
        "CpuUsageHigh",
        "MemoryUsageHigh",
        "DiskUsageHigh",
    } <= names
    assert {"QueueDepthHigh", "AvailabilityBelowTarget", "LongRunningQuery", "PhiAccessPerUserHigh"} <= names


def test_the_default_pack_only_reads_incidentd_itself() -> None:
    rules, _ = load_rules([RULES])
    own = [r for r in rules.rules() if r.file.endswith("incidentd.yaml")]
    assert own
    assert all(r.enabled for r in own)
    scrape = {s.name: s for s in rules.sources.scrape}
    for rule in own:
        if rule.signal.kind is SignalKind.PROBE:
            probe = rules.sources.probe(rule.signal.source)
            assert probe is not None
            assert probe.database == SELF_DATABASE
        else:
            assert scrape[rule.signal.source].url == "http://127.0.0.1:8080/metrics"


def test_the_app_table_probes_are_only_used_by_disabled_rules() -> None:
    rules, _ = load_rules([RULES])
    seed_tables = ("processing_jobs", "notification_logs", "login_attempts", "audit_logs", "storage.objects")
    probes = {p.name for p in rules.sources.sql if any(t in p.query for t in seed_tables)}
    assert probes
    users = [r for r in rules.rules() if r.signal.kind is SignalKind.PROBE and r.signal.source in probes]
    assert users
    assert not [r.name for r in users if r.enabled]


def test_every_shipped_rule_cites_its_seed_in_a_comment() -> None:
    for path in rule_files_in([RULES]):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if not line.strip().startswith("- alert:"):
                continue
            comments = []
            for previous in reversed(lines[:number]):
                if not previous.strip().startswith("#"):
                    break
                comments.append(previous)
            assert SEED.search(" ".join(comments)), f"{path.name}:{number + 1} cites no seed"

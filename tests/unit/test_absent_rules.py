"""The `absent:` field of a threshold rule: what it builds, and every way to get it wrong, as file:line."""

from __future__ import annotations

import io
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from service.alerting.absence_values import with_absence
from service.config.rule_files import load_rules
from service.domain.absence import absence_rows
from service.domain.alert_incidents import value_text
from service.domain.rules import Level
from service.domain.severity import Severity
from service.rules_cli import rules_test

PACK = """\
sources:
  scrape:
    - {name: app, url: "http://127.0.0.1:9/metrics"}
  sql:
    - {name: jobs, database: APP_DATABASE_URL, query: "SELECT 1 AS value, 'a' AS queue"}
groups:
  - name: g
    interval: 30s
    labels: {service: api}
    rules:
      - alert: Depth
        signal: {source: app, gauge: 'queue_depth{queue="jobs"}'}
        when: above
        warning: 50
        severity: P3
        annotations: {runbook: "https://runbooks.example/depth"}
        absent:
{absent}
"""


def load(tmp_path: Path, absent: str, extra: str = "") -> tuple[list[str], list[str]]:
    text = PACK.replace("{absent}", textwrap.indent(textwrap.dedent(absent), " " * 10)) + extra
    (tmp_path / "r.yaml").write_text(text)
    rules, problems = load_rules([tmp_path])
    return [r.name for r in rules.rules()], [str(p).removeprefix(f"{tmp_path}/") for p in problems]


def test_a_rule_with_absent_gets_a_companion_that_speaks_of_missing_data(tmp_path: Path) -> None:
    names, problems = load(tmp_path, "for: 5m\n")
    assert problems == []
    assert names == ["Depth", "Depth_absent"]
    rules, _ = load_rules([tmp_path])
    depth, companion = rules.rules()
    assert depth.absent is not None
    assert depth.absent.for_ == timedelta(minutes=5)
    assert companion.absence_of == "Depth"
    assert companion.for_ == timedelta(minutes=5)
    assert companion.severity == {Level.CRITICAL: Severity.P3}
    assert companion.labels == {"service": "api", "absent": "true"}
    assert companion.line == 17, "the companion points at its `absent:` line"
    assert companion.annotations["runbook"] == "https://runbooks.example/depth"
    assert "high" not in companion.annotations["title"]
    assert value_text(companion, 1.0) == "no series"


@pytest.mark.parametrize(
    ("absent", "expected"),
    [
        ("{}\n", "r.yaml:17: Depth.absent.for: missing (required)"),
        ("for: 5m\nseverity: P9\n", "r.yaml:19: Depth.absent.severity: unknown severity 'P9'"),
        ("for: 10s\n", "r.yaml:18: Depth.absent.for: shorter than the group's interval (30s)"),
        ("for: 0s\n", "r.yaml:18: Depth.absent.for: must be longer than 0s"),
        ("for: 5m\nafter: 1m\n", "r.yaml:19: Depth.absent.after: unknown field"),
        ("for: 5\n", "r.yaml:18: Depth.absent.for: bad duration 5: add a unit"),
    ],
)
def test_a_bad_absent_field_is_named_with_its_line(tmp_path: Path, absent: str, expected: str) -> None:
    _, problems = load(tmp_path, absent)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_rule_of_the_companions_name_is_refused(tmp_path: Path) -> None:
    own = """\
      - alert: Depth_absent
        signal: {source: app, gauge: other}
        when: above
        warning: 1
        severity: P3
"""
    _, problems = load(tmp_path, "for: 5m\n", own)
    [problem] = problems
    assert problem.startswith("r.yaml:20: Depth_absent.alert: duplicate rule name 'Depth_absent'")
    assert problem.endswith("r.yaml:17, the absent: alert of Depth)")


def test_absence_rows_say_missing_only_when_the_source_answered_with_nothing(tmp_path: Path) -> None:
    load(tmp_path, "for: 5m\n")
    rules, _ = load_rules([tmp_path])
    _, companion = rules.rules()
    assert absence_rows(companion, []) == [({}, 1.0)]
    assert absence_rows(companion, [({"queue": "jobs"}, 3.0)]) == []
    assert absence_rows(companion, None) is None, "unreadable is held, never called missing"


class Collected:
    def __init__(self, values: dict[str, list[tuple[dict[str, str], float]] | None], held: list[str]) -> None:
        self.values = values
        self.statuses: list[object] = []
        self.held = {name: [{"job": "app", "instance": "b"}] for name in held}


def test_a_silent_target_holds_the_companion(tmp_path: Path) -> None:
    load(tmp_path, "for: 5m\n")
    rules, _ = load_rules([tmp_path])
    listed = list(rules.rules())
    answered = with_absence(listed, Collected({"Depth": [], "Depth_absent": []}, []))  # type: ignore[arg-type]
    assert answered.values["Depth_absent"] == [({}, 1.0)]
    silent = with_absence(listed, Collected({"Depth": [], "Depth_absent": []}, ["Depth_absent"]))  # type: ignore[arg-type]
    assert silent.values["Depth_absent"] is None


RULE_TEST = """\
rule_files: [r.yaml]
evaluation_interval: 30s
tests:
  - name: the series is missing from 1m to 6m30s; absent.for is 5m
    input_series:
      - series: 'Depth{queue="jobs"}'
        values: "3 3 _x12 4"
    alert_rule_test:
      - eval_time: 30s
        alertname: Depth_absent
        exp_alerts: []
      - eval_time: 5m30s
        alertname: Depth_absent
        exp_alerts:
          - {state: pending}
      - eval_time: 6m
        alertname: Depth_absent
        exp_alerts:
          - labels: {service: api, absent: "true"}
            severity: P3
            annotations:
              title: 'No data for Depth: queue_depth{queue="jobs"} matches no series'
      - eval_time: 7m
        alertname: Depth_absent
        exp_alerts:
          - {state: resolved}
"""


def test_rules_test_runs_the_absent_alert_from_the_watched_rules_series(tmp_path: Path) -> None:
    load(tmp_path, "for: 5m\n")
    (tmp_path / "t.yaml").write_text(RULE_TEST)
    out = io.StringIO()
    assert rules_test([tmp_path / "t.yaml"], out) == 0, out.getvalue()
    (tmp_path / "t.yaml").write_text(RULE_TEST.replace("eval_time: 6m\n", "eval_time: 5m30s\n"))
    assert rules_test([tmp_path / "t.yaml"], io.StringIO()) == 1, "one evaluation early it is still pending"

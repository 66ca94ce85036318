from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path

import pytest

from service.config.rule_files import load_rules, rule_files_in
from service.config.rule_test_files import load_rule_tests
from service.domain.rule_tests import expand_values
from service.rules_cli import rules_check, rules_test

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
PROBLEM_LINE = re.compile(r"^\S+:\d+: \S+: .+$")

PACK = """
sources:
  sql:
    - {name: db, database: self, query: SELECT 1 AS value, unit: percent}
groups:
  - name: g
    labels: {service: api}
    rules:
      - alert: Busy
        signal: {probe: db}
        when: above
        warning: 80%
        critical: 90%
        for: 2m
        keep_firing_for: 2m
        severity: {warning: P3, critical: P1}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run(command: object, paths: list[Path]) -> tuple[int, str]:
    out = io.StringIO()
    assert callable(command)
    code = command(paths, out=out)
    return code, out.getvalue()


def test_check_passes_on_the_shipped_rules() -> None:
    code, output = run(rules_check, [RULES])
    assert code == 0, output
    assert output.startswith("ok: ")


def test_check_defaults_to_the_rules_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, output = run(rules_check, [])
    assert code == 0, output


def test_check_prints_every_problem_as_file_line_field_message(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pack.yaml",
        PACK.replace("warning: 80%", "warning: 80 pct").replace("  for: 2m", "  for: soon"),
    )
    write(tmp_path, "other.yaml", "groups:\n  - name: h\n    rules: [\n")
    code, output = run(rules_check, [tmp_path])
    lines = output.splitlines()
    assert code == 1
    assert lines[-1] == "3 problems in 2 of 2 files"
    problems = lines[:-1]
    assert all(PROBLEM_LINE.match(line) for line in problems), problems
    assert problems[0].startswith(f"{tmp_path / 'other.yaml'}:4: yaml: syntax error")
    assert problems[1].startswith(f"{tmp_path / 'pack.yaml'}:11: Busy.warning: unknown unit 'pct'")
    assert problems[2] == (
        f"{tmp_path / 'pack.yaml'}:13: Busy.for: bad duration 'soon': expected e.g. 30s, 5m, 1h30m, 2d"
    )


def test_check_fails_on_a_missing_path(tmp_path: Path) -> None:
    code, output = run(rules_check, [tmp_path / "nope"])
    assert code == 1
    assert output == f"{tmp_path / 'nope'}:1: (file): no such file or directory\n"


def test_check_fails_on_a_directory_without_rule_files(tmp_path: Path) -> None:
    code, output = run(rules_check, [tmp_path])
    assert code == 1
    assert "no rule files found" in output


TESTS = """
rule_files: [pack.yaml]
tests:
  - name: busy database
    input_series:
      - series: db
        values: "0.5 0.85x3 0.95x3 0x3"
    alert_rule_test:
      - eval_time: 2m
        alertname: Busy
        exp_alerts:
          - {state: pending, level: warning}
      - eval_time: 3m
        alertname: Busy
        exp_alerts:
          - {labels: {service: api}, level: warning, severity: P3}
      - eval_time: 7m
        alertname: Busy
        exp_alerts:
          - {level: critical, severity: P1}
      - eval_time: 10m
        alertname: Busy
        exp_alerts:
          - {state: resolved}
"""


def test_a_passing_rule_test(tmp_path: Path) -> None:
    write(tmp_path, "pack.yaml", PACK)
    tests = write(tmp_path, "tests.yaml", TESTS)
    code, output = run(rules_test, [tests])
    assert code == 0, output
    assert output.splitlines() == [f"ok    {tests}: busy database", "1 passed, 0 failed"]


def test_a_failing_rule_test_shows_expected_and_got_at_the_check_line(tmp_path: Path) -> None:
    write(tmp_path, "pack.yaml", PACK)
    tests = write(
        tmp_path, "tests.yaml", TESTS.replace("{level: critical, severity: P1}", "{level: warning}")
    )
    code, output = run(rules_test, [tests])
    assert code == 1
    assert output.splitlines() == [
        f"FAIL  {tests}: busy database",
        f"{tests}:16: Busy at 7m:",
        "  expected: [state=firing level=warning]",
        '  got:      [state=firing level=critical severity=P1 labels={service="api"}]',
        "0 passed, 1 failed",
    ]


def test_an_unexpected_alert_fails_the_check(tmp_path: Path) -> None:
    write(tmp_path, "pack.yaml", PACK)
    tests = write(tmp_path, "tests.yaml", TESTS.replace("- {state: pending, level: warning}", "[]"))
    tests.write_text(
        tests.read_text().replace("exp_alerts:\n          []", "exp_alerts: []"), encoding="utf-8"
    )
    code, output = run(rules_test, [tests])
    assert code == 1
    assert "  expected: no alerts" in output
    assert "  got:      [state=pending level=warning severity=P3" in output


def test_problems_in_a_test_file_are_reported_with_their_line(tmp_path: Path) -> None:
    write(tmp_path, "pack.yaml", PACK)
    broken = (
        TESTS.replace(
            "alertname: Busy\n        exp_alerts:\n          - {state: pending",
            "alertname: Idle\n        exp_alerts:\n          - {state: pending",
        )
        .replace('values: "0.5', 'values: "0.5 lots')
        .replace("eval_time: 3m", "eval_time: 90s")
        .replace("{state: resolved}", "{state: gone}")
    )
    tests = write(tmp_path, "tests.yaml", broken)
    code, output = run(rules_test, [tests])
    assert code == 1
    assert output.splitlines() == [
        f"{tests}:6: tests[0].input_series[0].values: cannot read 'lots': expected a number, _, stale, "
        "or a+bxn / axn",
        f"{tests}:9: tests[0].alert_rule_test[0].alertname: no rule named 'Idle' in the rule files",
        f"{tests}:12: tests[0].alert_rule_test[1].eval_time: must be a multiple of the test's interval",
        f"{tests}:23: tests[0].alert_rule_test[3].exp_alerts[0].state: expected pending, firing or resolved, "
        "got 'gone'",
        "0 passed, 0 failed, 1 file could not be loaded",
    ]


def test_a_test_file_whose_rules_do_not_check_runs_nothing(tmp_path: Path) -> None:
    write(tmp_path, "pack.yaml", PACK.replace("severity: {warning: P3, critical: P1}", "severity: P5"))
    tests = write(tmp_path, "tests.yaml", TESTS)
    code, output = run(rules_test, [tests])
    assert code == 1
    assert f"{tmp_path / 'pack.yaml'}:15: Busy.severity: unknown severity 'P5'" in output


def test_unknown_input_series_names_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "pack.yaml", PACK)
    tests = write(tmp_path, "tests.yaml", TESTS.replace("- series: db", "- series: dbb"))
    _, problems = load_rule_tests(tests)
    assert [str(p) for p in problems] == [
        f"{tests}:5: tests[0].input_series[0].series: 'dbb' is neither a rule nor a SQL probe "
        "in the rule files"
    ]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("1 2 3", [1.0, 2.0, 3.0]),
        ("0.05x3", [0.05, 0.05, 0.05, 0.05]),
        ("-2+4x3", [-2.0, 2.0, 6.0, 10.0]),
        ("1-2x4", [1.0, -1.0, -3.0, -5.0, -7.0]),
        ("1 _x3 stale 2", [1.0, None, None, None, None, 2.0]),
        ("_ 1e-3", [None, 0.001]),
        ("", []),
    ],
)
def test_expanding_notation_matches_promtool(text: str, values: list[float | None]) -> None:
    assert expand_values(text) == pytest.approx(values)


@pytest.mark.parametrize("text", ["1x", "abc", "1+x3", "1e999"])
def test_bad_expanding_notation_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        expand_values(text)


def test_every_shipped_pack_has_tests_that_cover_all_its_rules() -> None:
    rules, _ = load_rules([RULES])
    tested: set[str] = set()
    for path in sorted((RULES / "tests").glob("*.yaml")):
        loaded, problems = load_rule_tests(path)
        assert loaded is not None, problems
        tested |= {check.alertname for case in loaded.cases for check in case.checks}
    assert sorted({rule.name for rule in rules.rules()} - tested) == []
    packs = {p.name for p in rule_files_in([RULES]) if p.name != "sources.yaml"}
    assert packs == {p.name for p in (RULES / "tests").glob("*.yaml")}


@pytest.mark.parametrize("path", sorted((RULES / "tests").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_rule_test_passes(path: Path) -> None:
    code, output = run(rules_test, [path])
    assert code == 0, output
    assert " 0 failed" in output

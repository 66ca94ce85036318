"""`incidentd rules check` reads PromQL as Prometheus 2.42 does, checked by real `promtool check rules`.

Each expression of `tests/fixtures/promql/check-exprs.txt` (selectors, offset, @, subqueries, every
kind of operator and function, and a broken one for each of Prometheus' parse and type errors) is the
`expr` of a one-rule Prometheus rule file. promtool and incidentd must give the same verdict on every
file, and for a broken one point at the same line:column inside the expression.
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import yaml
from conftest import require_tool

from service.rules_cli import rules_check

EXPRESSIONS = [
    line
    for line in (Path(__file__).resolve().parents[1] / "fixtures" / "promql" / "check-exprs.txt")
    .read_text()
    .splitlines()
    if line.strip()
]
SOURCES = "sources:\n  prometheus:\n    - {name: prom, url: http://127.0.0.1:9090}\n"
_PROMTOOL_AT = re.compile(r"could not parse expression: (\d+:\d+): parse error: (.*)")
_OURS_AT = re.compile(r"A\.expr: not valid PromQL at (\d+:\d+) of the expression: (.*)")


def test_rules_check_agrees_with_promtool_check_rules(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "prometheus")
    files = []
    for index, expression in enumerate(EXPRESSIONS):
        folder = tmp_path / f"case{index}"
        folder.mkdir()
        rule = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expression}]}]}
        (folder / "alerts.yaml").write_text(yaml.safe_dump(rule))
        (folder / "sources.yaml").write_text(SOURCES)
        files.append(folder / "alerts.yaml")
    done = subprocess.run(
        [promtool, "check", "rules", *(str(f) for f in files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    reports = re.split(r"^Checking ", done.stdout + done.stderr, flags=re.MULTILINE)
    said = {Path(part.split("\n", 1)[0].strip()): part for part in reports if part.strip()}
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "could not parse" in line]

    disagreements = []
    broken = 0
    for expression, file in zip(EXPRESSIONS, files, strict=True):
        theirs_ok = "SUCCESS" in said[file]
        out = io.StringIO()
        ours_ok = rules_check([file.parent], out) == 0
        if theirs_ok != ours_ok:
            disagreements.append(
                f"{expression!r}: promtool {theirs_ok}, incidentd {ours_ok}: {out.getvalue()}"
            )
            continue
        if ours_ok:
            continue
        broken += 1
        theirs = next((_PROMTOOL_AT.search(line) for line in errors if line.startswith(str(file))), None)
        ours = _OURS_AT.search(out.getvalue())
        assert theirs is not None, said[file]
        assert ours is not None, out.getvalue()
        if theirs.group(1) != ours.group(1):
            disagreements.append(
                f"{expression!r}: promtool at {theirs.group(1)} ({theirs.group(2)}), "
                f"incidentd at {ours.group(1)} ({ours.group(2)})"
            )
    assert disagreements == []
    assert broken >= 45, "the file holds a broken expression for each kind of parse and type error"
    assert len(EXPRESSIONS) - broken >= 60


def test_a_typo_is_reported_with_the_file_line_and_the_position_in_the_expression(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "prometheus")
    (tmp_path / "sources.yaml").write_text(SOURCES)
    (tmp_path / "alerts.yaml").write_text(
        "groups:\n"
        "  - name: api\n"
        "    rules:\n"
        "      - alert: HighErrors\n"
        "        expr: |\n"
        '          sum(rate(http_requests_total{status=~"5.."}[5m]))\n'
        "            / sum(rate(http_requests_total[5m]) > 0.05\n"
        "        for: 5m\n"
    )
    done = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "alerts.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "could not parse expression: 3:1: parse error" in done.stdout + done.stderr
    out = io.StringIO()
    assert rules_check([tmp_path], out) == 1
    [problem] = [line for line in out.getvalue().splitlines() if "alerts.yaml" in line and "expr" in line]
    assert problem.endswith(
        "alerts.yaml:5: HighErrors.expr: not valid PromQL at 3:1 of the expression: unexpected end of input "
        "in aggregation sum, expected ')' (at the end)"
    )

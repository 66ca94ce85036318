"""A public-style Prometheus rule file fires on the same data in incidentd as real `promtool test rules` says.

The shipped test file passes both. Then every check is altered two ways (its
expectation flipped between "these alerts" and "none", and its eval_time moved
one evaluation earlier) and each variant must get the same verdict from both.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import require_tool

from service.rules_cli import rules_test

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus"
BOGUS = {"exp_labels": {"severity": "critical", "instance": "nowhere:1"}, "exp_annotations": {}}


def _promtool_passes(promtool: str, test_file: Path) -> bool:
    done = subprocess.run(
        [promtool, "test", "rules", test_file.name],
        cwd=test_file.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    said = done.stdout + done.stderr
    assert "SUCCESS" in said or "FAILED" in said, said
    return done.returncode == 0


def _incidentd_passes(test_file: Path) -> tuple[bool, str]:
    out = io.StringIO()
    return rules_test([test_file], out) == 0, out.getvalue()


def _minutes(text: str) -> int:
    assert text.endswith("m")
    return int(text[:-1])


def _variants(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for t, test in enumerate(data["tests"]):
        for c, check in enumerate(test["alert_rule_test"]):
            flipped = yaml.safe_load(yaml.safe_dump(data))
            target = flipped["tests"][t]["alert_rule_test"][c]
            target["exp_alerts"] = [] if check["exp_alerts"] else [BOGUS]
            found.append((f"test {t} check {c}: expectation flipped", flipped))
            earlier = yaml.safe_load(yaml.safe_dump(data))
            moved = earlier["tests"][t]["alert_rule_test"][c]
            moved["eval_time"] = f"{_minutes(check['eval_time']) - 1}m"
            found.append((f"test {t} check {c}: one evaluation earlier", earlier))
    return found


def test_the_fixture_passes_promtool_and_incidentd(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "prometheus")
    shutil.copy(FIXTURES / "node-alerts.yaml", tmp_path)
    shutil.copy(FIXTURES / "node-alerts.test.yaml", tmp_path)
    assert (
        subprocess.run([promtool, "check", "rules", "node-alerts.yaml"], cwd=tmp_path, check=False).returncode
        == 0
    )
    assert _promtool_passes(promtool, tmp_path / "node-alerts.test.yaml")
    passed, output = _incidentd_passes(tmp_path / "node-alerts.test.yaml")
    assert passed, output


@pytest.mark.parametrize("index", range(20))
def test_altered_expectations_get_the_same_verdict(tmp_path: Path, index: int) -> None:
    promtool = require_tool("promtool", "prometheus")
    data = yaml.safe_load((FIXTURES / "node-alerts.test.yaml").read_text())
    variants = _variants(data)
    assert len(variants) == 20, "keep the parametrize range in step with the fixture's checks"
    name, variant = variants[index]
    shutil.copy(FIXTURES / "node-alerts.yaml", tmp_path)
    test_file = tmp_path / "variant.test.yaml"
    test_file.write_text(yaml.safe_dump(variant, sort_keys=False))
    expected = _promtool_passes(promtool, test_file)
    got, output = _incidentd_passes(test_file)
    assert got == expected, f"{name}: promtool {'passes' if expected else 'fails'}, incidentd:\n{output}"

"""rules/policy/pushed_alerts.yaml: the shipped file gives today's defaults, a bad one is named by
file:line, and grouping and the resolve timeout follow it; the fast body check agrees with the generic one."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.alerting.pushed import Origin, check_batch, check_body, pushed_group_key
from service.config.pushed_policy import PUSHED_FILE, PushedPolicy, load_pushed_policy

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def test_shipped_file_is_the_defaults() -> None:
    policy, problems = load_pushed_policy(ROOT / "rules/policy" / PUSHED_FILE)
    assert problems == []
    assert policy == PushedPolicy()
    assert policy.group_by == ("alertname", "service")
    assert policy.group_by_fallbacks == {"service": "job"}
    assert policy.resolve_timeout == timedelta(minutes=5)
    assert policy.auto_resolve is True
    assert load_pushed_policy(ROOT / "no-such-file.yaml") == (PushedPolicy(), [])


def test_every_problem_has_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "pushed_alerts.yaml"
    path.write_text(
        "group_by: [alertname, 9bad, alertname]\n"
        "group_by_fallbacks:\n"
        "  team: squad\n"
        "resolve_timeout: soon\n"
        "auto_resolve: true\n"
    )
    _, problems = load_pushed_policy(path, base=tmp_path)
    shown = sorted(str(p) for p in problems)
    assert shown == [
        "pushed_alerts.yaml:1: group_by[1]: '9bad' is not a valid label name",
        "pushed_alerts.yaml:1: group_by[2]: 'alertname' is listed twice",
        "pushed_alerts.yaml:3: group_by_fallbacks.team: 'team' is not in group_by",
        "pushed_alerts.yaml:4: resolve_timeout: bad duration 'soon': expected e.g. 30s, 5m, 1h30m, 2d",
    ]
    path.write_text("group_by: [alertname]\nrezolve_timeout: 5m\n")
    [unknown] = load_pushed_policy(path, base=tmp_path)[1]
    assert "rezolve_timeout" in str(unknown)
    assert str(unknown).startswith("pushed_alerts.yaml:")


def test_incidentd_check_reports_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.__main__ import _cmd_check
    from service.settings import load_settings

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "policy" / PUSHED_FILE).write_text("group_by: []\nresolve_timeout: 30d\n")
    monkeypatch.chdir(tmp_path)
    env = {"INCIDENTD_RULES_DIR": str(rules), "INCIDENTD_TEMPLATES_DIR": str(ROOT / "incident_templates")}
    assert _cmd_check(load_settings(env)) == 1
    err = capsys.readouterr().err
    assert "rules/policy/pushed_alerts.yaml:1: group_by: at least one label is required" in err
    assert "rules/policy/pushed_alerts.yaml:2: resolve_timeout: must be between 1s and 7d" in err


def test_grouping_and_timeout_follow_the_policy() -> None:
    labels = {"alertname": "Down", "job": "api", "team": "core", "instance": "a"}
    assert pushed_group_key(labels) == 'pushed:{alertname="Down",job="api"}'
    assert pushed_group_key(labels, ("alertname", "team"), {}) == 'pushed:{alertname="Down",team="core"}'
    assert pushed_group_key(labels, ("alertname", "service"), {}) == 'pushed:{alertname="Down"}'
    assert pushed_group_key(labels, ("cluster",), {"cluster": "instance"}) == 'pushed:{instance="a"}'
    raw = [{"labels": {"alertname": "NoEnd"}}]
    [alert], _ = check_batch(raw, NOW, Origin.PROMETHEUS, timedelta(minutes=30))
    assert alert.ends_at == NOW + timedelta(minutes=30)
    assert not alert.ends_explicit


label_names = st.sampled_from(["alertname", "service", "bad-name", "9x", "_ok", ""])
texts = st.sampled_from(["", "a", "x" * 9000, "nul\x00here", "é"])
times = st.sampled_from(
    [None, "2026-05-04T08:00:00Z", "2026-05-04T10:00:00Z", "0001-01-01T00:00:00Z", "soon", 5]
)
items = st.one_of(
    st.fixed_dictionaries(
        {"labels": st.dictionaries(label_names, texts, max_size=3)},
        optional={
            "annotations": st.dictionaries(label_names, texts, max_size=2),
            "startsAt": times,
            "endsAt": times,
            "generatorURL": st.sampled_from(["", "http://p/graph", 7]),
            "extra": st.sampled_from([1, [[[]]], "x"]),
        },
    ),
    st.sampled_from([{}, [], "x", {"labels": "no"}, {"labels": {"a": 1}}]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(items, max_size=6))
def test_the_fast_road_answers_as_the_generic_one(batch: list[Any]) -> None:
    body = msgspec.json.encode(batch)
    fast = check_body(body, NOW, Origin.PROMETHEUS)
    if fast is None:
        return  # not well formed: the handler takes the generic road
    assert fast == check_batch(msgspec.json.decode(body), NOW, Origin.PROMETHEUS)
    assert b"\\u0000" not in body

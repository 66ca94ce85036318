"""The rules-test PromQL engine computes what Prometheus computes, checked by real promtool.

For each expression, the engine's result over promtool-style input series is
written into a `promql_expr_test` as the expected samples; `promtool test rules`
then evaluates the same expression itself and fails unless every label set and
value matches. Covers rate extrapolation (series starting inside the window,
counter resets, gaps), staleness, vector matching and the functions rules use.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from conftest import require_tool

from service.domain.promql_eval import STALE, Engine, Series, Stale
from service.domain.promql_parse import parse_expr, parse_series
from service.domain.rule_tests import expand_values

STEP = 60.0
INPUT = {
    'http_requests_total{job="api", instance="a", code="200"}': "0+60x20",
    'http_requests_total{job="api", instance="a", code="500"}': "_x8 0+3x12",  # appears mid-run
    'http_requests_total{job="api", instance="b", code="200"}': "0+30x6 5+30x14",  # a counter reset
    'http_requests_total{job="web", instance="c", code="200"}': "0+10x5 _x3 50+10x11",  # missed scrapes
    'up{job="api", instance="a"}': "1x20",
    'up{job="api", instance="b"}': "1x10 0x10",
    'up{job="web", instance="c"}': "1x8 stale",
    'node_filesystem_avail_bytes{instance="a", mountpoint="/"}': "1000-20x20",
    'node_filesystem_size_bytes{instance="a", mountpoint="/"}': "2000x20",
    'instance_info{instance="a", team="payments"}': "1x20",
    'instance_info{instance="b", team="search"}': "1x20",
    'latency_bucket{le="0.1", job="api"}': "0+50x20",
    'latency_bucket{le="0.5", job="api"}': "0+90x20",
    'latency_bucket{le="+Inf", job="api"}': "0+100x20",
}
EXPRESSIONS = [
    "rate(http_requests_total[5m])",
    "increase(http_requests_total[3m])",
    "irate(http_requests_total[5m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    'sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))'
    " / sum by (job) (rate(http_requests_total[5m]))",
    "avg without (code) (rate(http_requests_total[2m]))",
    "count by (job) (up == 1)",
    "up == bool 0",
    'up{job="api"} == 0 or up{job="web"}',
    "up and on (instance) instance_info",
    "up unless on (instance) instance_info",
    "up * on (instance) group_left (team) instance_info",
    "node_filesystem_avail_bytes / node_filesystem_size_bytes * 100 < 45",
    "predict_linear(node_filesystem_avail_bytes[10m], 3600)",
    "deriv(node_filesystem_avail_bytes[10m])",
    "delta(node_filesystem_avail_bytes[5m])",
    "max_over_time(up[10m]) - min_over_time(up[10m])",
    "avg_over_time(node_filesystem_avail_bytes[4m])",
    'absent(up{job="nope"})',
    "absent(up)",
    "histogram_quantile(0.95, sum by (le) (rate(latency_bucket[5m])))",
    "clamp_max(rate(http_requests_total[5m]), 0.5)",
    "-up + 2 ^ 3 % 5",
    "time() - 60 > bool 100",
    # offset, @, subqueries
    "rate(http_requests_total[5m] offset 2m)",
    "up offset 3m",
    "up @ 300",
    "rate(http_requests_total[2m] @ 480)",
    "up @ end() offset 1m",
    "max_over_time(rate(http_requests_total[2m])[5m:1m])",
    "avg_over_time(up[10m:2m])",
    "min_over_time(sum by (job) (rate(http_requests_total[3m]))[6m:1m] offset 1m)",
    "max_over_time(up[5m:])",
    # aggregations with a parameter
    "topk(2, rate(http_requests_total[5m]))",
    "bottomk by (job) (1, http_requests_total)",
    "quantile(0.9, http_requests_total)",
    "quantile by (job) (0.5, rate(http_requests_total[5m]))",
    'count_values("up_value", up)',
    "group by (job) (up)",
    "stddev by (job) (http_requests_total)",
    # label functions
    'label_replace(up, "host", "$1", "instance", "(.*)")',
    'label_replace(up, "short", "${1}x", "job", "(a)(.*)")',
    'label_replace(up, "job", "", "job", "web")',
    'label_join(up, "id", "/", "job", "instance")',
    # more functions
    "clamp(rate(http_requests_total[5m]), 0.1, 0.4)",
    "clamp_min(node_filesystem_avail_bytes, 900)",
    "sgn(up - 0.5)",
    "round(rate(http_requests_total[5m]), 0.1)",
    "timestamp(up)",
    'absent_over_time(up{job="nope"}[5m])',
    'absent_over_time(up{job="web"}[2m])',
    "quantile_over_time(0.75, node_filesystem_avail_bytes[5m])",
    "stddev_over_time(up[10m])",
    "stdvar_over_time(node_filesystem_avail_bytes[5m])",
    "last_over_time(up[10m])",
    'count_over_time(up[3m]) unless present_over_time(up{job="api"}[3m])',
    "holt_winters(node_filesystem_avail_bytes[10m], 0.5, 0.3)",
    "changes(up[10m]) + resets(http_requests_total[10m])",
    "hour(vector(time())) + minute() + day_of_week() + month() + year() - days_in_month()",
    "sort_desc(rate(http_requests_total[5m]))",
    "scalar(sum(up)) * pi()",
    "-2 ^ 2 + up",
    "2 ^ 3 ^ 2 - up",
]
EVAL_TIMES = [timedelta(minutes=m) for m in (4, 9, 12, 15)]


def _series() -> list[Series]:
    found = []
    for text, values in INPUT.items():
        expanded: list[float | Stale | None] = []
        for token in values.split():
            expanded.extend([STALE] if token == "stale" else expand_values(token))
        points = [(i * STEP, v) for i, v in enumerate(expanded) if v is not None]
        found.append(Series(labels=parse_series(text), points=points))
    return found


def _label_text(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}"


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_the_engine_agrees_with_promtool(expression: str, tmp_path: Path) -> None:
    promtool = require_tool("promtool", "prometheus")
    engine = Engine(_series())
    node = parse_expr(expression)
    checks = []
    for at in EVAL_TIMES:
        rows = engine.query(node, at.total_seconds())
        checks.append(
            {
                "expr": expression,
                "eval_time": f"{int(at.total_seconds() // 60)}m",
                "exp_samples": [{"labels": _label_text(labels), "value": v} for labels, v in rows],
            }
        )
    (tmp_path / "empty.yaml").write_text("groups: []\n")
    test = {
        "rule_files": ["empty.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in INPUT.items()],
                "promql_expr_test": checks,
            }
        ],
    }
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", "t.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{expression}: promtool disagrees:\n{done.stdout}{done.stderr}"

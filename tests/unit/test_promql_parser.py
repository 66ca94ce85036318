"""The PromQL parser and engine without promtool: precedence, positions, Go quoting, and the newer features
(offset, @, subqueries, topk, label_replace). Agreement with promtool itself is in tests/integration."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from service.config.rule_files import load_rules
from service.domain.promql_eval import Engine, Series
from service.domain.promql_parse import ParseError, Unsupported, expr_problem, parse_expr


def _engine() -> Engine:
    return Engine(
        [
            Series({"__name__": "x", "job": "a"}, [(float(t), float(t)) for t in range(0, 601, 60)]),
            Series({"__name__": "x", "job": "b"}, [(float(t), 2.0 * t) for t in range(0, 601, 60)]),
            Series({"__name__": "up", "instance": "h1:9100"}, [(0.0, 1.0), (300.0, 0.0)]),
        ]
    )


def _values(expression: str, at: float) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(ls.items())): v for ls, v in _engine().query(parse_expr(expression), at)}


def test_unary_minus_binds_looser_than_power_and_power_is_right_associative() -> None:
    assert _values("-2 ^ 2", 0) == {(): -4.0}
    assert _values("2 ^ 3 ^ 2", 0) == {(): 512.0}
    assert _values("2 ^ -1", 0) == {(): 0.5}


@pytest.mark.parametrize(
    ("expression", "where", "says"),
    [
        ("rate(x[5m]", "1:11", "unexpected end of input"),
        ("sum(rate(x[5m])) by (job) > bool", "1:33", "unexpected end of input"),
        ('x{path=~"\\d+"}', "1:9", "unknown escape sequence \\d"),
        ("rate(x)", "1:6", "expected type range vector in call to function 'rate', got instant vector"),
        ("x\n  +* y", "2:4", "unexpected '*'"),
        ("topk(x)", "1:1", "wrong number of arguments"),
        ("rate(x[5m]) offset 1m", "1:1", "offset modifier must be preceded by"),
    ],
)
def test_a_broken_expression_says_where(expression: str, where: str, says: str) -> None:
    problem = expr_problem(expression)
    assert problem is not None
    assert problem.startswith(f"not valid PromQL at {where} of the expression: ")
    assert says in problem


def test_valid_promql_parses_even_what_is_rarely_written() -> None:
    for expression in (
        'x{a="b",} offset -5m @ 1700000000',
        "max_over_time(rate(x[1m])[30m:] @ end())",
        "x offset 1h30m",
        'label_join(x, "id", "-", "job", "job")',
        "x{a=~`\\d+`}",
        "histogram_fraction(0, 0.5, x)",
    ):
        assert expr_problem(expression) is None, expression


def test_offset_and_at_move_the_time_a_selector_reads() -> None:
    assert _values('x{job="a"} offset 2m', 600) == {(("__name__", "x"), ("job", "a")): 480.0}
    assert _values('x{job="a"} @ 120', 600) == {(("__name__", "x"), ("job", "a")): 120.0}
    assert _values("up @ start()", 200) == {(("__name__", "up"), ("instance", "h1:9100")): 1.0}


def test_a_subquery_evaluates_its_expression_at_aligned_steps() -> None:
    # rate over 2m at steps 120, 180, ..., 600 of a counter growing 1/s (job a) and 2/s (job b)
    assert _values("max_over_time(rate(x[2m])[8m:1m])", 630) == {(("job", "a"),): 1.0, (("job", "b"),): 2.0}
    # steps at multiples of 90s within [600-300, 600]: 360, 450, 540 -> values 360, 450, 540; count 3
    assert _values('count_over_time(x{job="a"}[5m:90s])', 600) == {(("job", "a"),): 3.0}


def test_topk_keeps_whole_series_and_label_replace_expands_like_go() -> None:
    assert _values("topk(1, x)", 600) == {(("__name__", "x"), ("job", "b")): 1200.0}
    replaced = _values('label_replace(up, "host", "${1}x$1x", "instance", "([^:]+):.*")', 0)
    assert replaced == {(("__name__", "up"), ("host", "h1x"), ("instance", "h1:9100")): 1.0}


def test_what_the_engine_cannot_evaluate_is_refused_by_name() -> None:
    with pytest.raises(Unsupported, match="native histograms"):
        _engine().query(parse_expr("histogram_count(x)"), 0)
    with pytest.raises(ParseError):
        parse_expr("sum by (job) x")
    assert math.isnan(_values("scalar(x)", 600)[()])


def test_a_threshold_rules_promql_signal_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "sources:\n"
        "  prometheus:\n"
        "    - {name: prom, url: 'http://127.0.0.1:9090'}\n"
        "groups:\n"
        "  - name: g\n"
        "    labels: {service: api}\n"
        "    rules:\n"
        "      - alert: Cpu\n"
        "        signal: {source: prom, promql: 'avg by (instance) (rate(node_cpu_seconds_total[5m]'}\n"
        "        when: above\n"
        "        warning: 80%\n"
        "        severity: P3\n"
    )
    _, problems = load_rules([tmp_path])
    assert [str(p).removeprefix(f"{tmp_path}/") for p in problems] == [
        "r.yaml:9: Cpu.signal.promql: not valid PromQL at 1:51 of the expression: unexpected end of input in "
        "call to 'rate', expected ',' or ')' (at the end)"
    ]

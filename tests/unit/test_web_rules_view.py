"""The rules page: a source's status from its SourceDown rule, and rules in the order that matters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from service.alerting.routes import RuleView
from service.domain.rules import Sources
from service.web.rules_view import rule_lines, source_rules, source_statuses

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
RULES = {"SourceDown_scrape_web": ("scrape", "web"), "SourceDown_sql_db": ("sql", "db"),
         "SourceDown_prometheus_prom": ("prometheus", "prom")}  # fmt: skip


def slot(value: float | None) -> dict[str, Any]:
    return {"value": value, "last_data_at": AT, "evaluated_at": AT}


def test_a_source_is_up_failing_down_or_not_read_yet() -> None:
    alerts = [
        {"rule": "SourceDown_sql_db", "status": "firing", "error": "connection refused", "incident_id": 7},
    ]
    slots = {"SourceDown_scrape_web": slot(0.0), "SourceDown_sql_db": slot(0.0)}
    found = source_statuses(RULES, slots, alerts)
    assert found["db"].state == "down"
    assert (found["db"].error, found["db"].incident_id) == ("connection refused", 7)
    assert found["web"].state == "failing"  # a target is down, not yet for long enough to fire
    assert found["prom"].state == "unknown"
    assert source_statuses(RULES, {"SourceDown_scrape_web": slot(1.0)}, [])["web"].state == "up"


def test_source_rules_name_each_configured_source() -> None:
    assert source_rules(Sources(), lambda kind, name: f"SourceDown_{kind}_{name}") == {}


def view(name: str, health: str | None, value: float | None = None) -> RuleView:
    return RuleView(
        name=name, group="g", enabled=True, comparison="above", warning="80%", critical="90%", severity={},
        interval_seconds=30, for_seconds=60, source="web", file="rules/x.yaml", line=3, value=value,
        health=health, matched_series=0 if health == "no series" else 1,
    )  # fmt: skip


def test_breaching_first_then_what_cannot_be_judged_then_healthy() -> None:
    views = [view("a", "healthy", 0.2), view("b", "no series"), view("c", "breaching", 0.95), view("d", None)]
    lines = rule_lines(views, {}, {})
    assert [line.name for line in lines] == ["c", "b", "d", "a"]
    assert lines[1].health_text == "no series matched"
    assert lines[0].value == "0.95"  # the rule is not loaded here: its plain number
    disabled = rule_lines([msgspec.structs.replace(view("e", "healthy"), enabled=False)], {}, {})
    assert disabled[0].health == "disabled"

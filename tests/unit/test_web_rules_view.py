"""The rules page: a source's status from its stored target reads, and rules in the order that matters."""

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


def stored(kind: str, source: str, instance: str, up: bool, error: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "source": source, "instance": instance, "up": up, "read_at": AT,
            "duration_seconds": 0.01, "error": error, "warning": None, "samples": 3 if up else None,
            "dropped_samples": 0, "last_success_at": AT if up else None}  # fmt: skip


def test_a_source_is_up_partial_down_or_not_read_yet_from_its_stored_targets() -> None:
    rows = [
        stored("scrape", "web", "a:9100", True),
        stored("scrape", "web", "b:9100", False, "connect: connection refused"),
        stored("sql", "db", "", False, "password authentication failed"),
        stored("scrape", "db", "x:1", True),  # another kind's source of the same name is not db's
    ]
    alerts: list[dict[str, Any]] = [
        {"rule": "SourceDown_sql_db", "status": "firing", "error": "stale", "incident_id": 7},
        {"rule": "SourceDown_scrape_web", "status": "pending", "error": None, "incident_id": None},
    ]
    found = source_statuses(RULES, rows, alerts)
    assert (found["db"].state, found["db"].alert, found["db"].incident_id) == ("down", "firing", 7)
    assert [t.error for t in found["db"].targets] == ["password authentication failed"]
    web = found["web"]
    assert (web.state, web.targets_up, web.alert, web.incident_id) == ("partial", 1, "pending", None)
    assert [t.instance for t in web.targets] == ["b:9100", "a:9100"], "the target that is down first"
    assert (found["prom"].state, found["prom"].targets, found["prom"].last_read_at) == ("unknown", (), None)
    only_up = source_statuses(RULES, [stored("scrape", "web", "a:9100", True)], [])["web"]
    assert (only_up.state, only_up.alert, only_up.last_read_at) == ("up", None, AT)


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

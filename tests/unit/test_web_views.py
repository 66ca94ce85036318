from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.domain.incidents import Incident, Status
from service.domain.severity import Severity
from service.incidents.listing import parse_cursor, parse_filters
from service.web.auth import safe_next
from service.web.rca_view import marked_html
from service.web.views import button_actions, durations

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


def incident(**changes: object) -> Incident:
    base: dict[str, object] = {
        "id": 7, "dedup_key": "k", "title": "t", "description": "", "severity": Severity.P1,
        "status": Status.TRIGGERED, "labels": {}, "assignee": None, "created_by": "x", "source": "api",
        "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    base.update(changes)
    return Incident(**base)  # type: ignore[arg-type]


def test_durations_count_up_while_open_and_stop_when_done() -> None:
    now = T0 + timedelta(minutes=30)
    acked = incident(status=Status.ACKNOWLEDGED, acknowledged_at=T0 + timedelta(minutes=4))
    shown = {d.label: (d.value, d.running) for d in durations(acked, now)}
    assert shown["to acknowledge"] == (timedelta(minutes=4), False)
    assert shown["to mitigate"] == (timedelta(minutes=30), True)
    resolved = incident(status=Status.RESOLVED, resolved_at=T0 + timedelta(hours=1))
    shown = {d.label: (d.value, d.running) for d in durations(resolved, now)}
    assert shown["to acknowledge"] == (None, False)
    assert shown["to resolve"] == (timedelta(hours=1), False)


def test_resolve_is_not_a_one_click_button() -> None:
    assert [a for a, _ in button_actions(incident())] == ["acknowledge", "mitigate"]


def test_filters_reject_unknown_values_and_keep_the_rest() -> None:
    filters = parse_filters({"status": "nope", "severity": "p1", "service": " checkout ", "q": "db"})
    assert filters.status == "all"
    assert filters.severity == "P1"
    assert filters.service == "checkout"
    assert filters.problems == ("status: unknown value 'nope'; showing all",)
    assert filters.query(after="0.5") == "severity=P1&service=checkout&q=db&after=0.5"
    assert parse_filters({"severity": "P9"}).problems[0].startswith("severity: unknown value 'P9'")


def test_cursors_are_parsed_strictly() -> None:
    assert parse_cursor("1.42") == (1, 42)
    assert parse_cursor("2.42") is None
    assert parse_cursor("0.x") is None
    assert parse_cursor("0." + "9" * 30) is None


def test_login_redirects_stay_on_this_site() -> None:
    assert safe_next("/incidents/4?x=1") == "/incidents/4?x=1"
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example", None, ""):
        assert safe_next(hostile) == "/"


def test_machine_sections_are_framed_and_everything_is_sanitised() -> None:
    text = (
        "# RCA\n<img src=x onerror=alert(1)>\n<!-- incidentd:begin timeline -->\n- <script>x</script>\n"
        "<!-- incidentd:end timeline -->\n![chart](/api/v1/incidents/7/rca/chart.svg)\n"
    )
    html = str(marked_html(text, 7))
    assert 'aria-label="Machine section timeline"' in html
    assert "onerror" not in html
    assert "<script" not in html
    assert 'src="/incidents/7/rca/chart.svg"' in html
    forged = str(marked_html("<!-- incidentd:begin <b>x -->\n<!-- incidentd:end <b>x -->\n", 7))
    assert "<b>" not in forged

"""What PagerDuty and Slack are sent, built from a scripted rule incident and from hostile text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from service.domain.incidents import Incident, Status, TimelineEvent
from service.domain.severity import Severity
from service.notifications import messages
from service.notifications.channels.slack.text import TargetKind, escape, link
from service.notifications.snapshots import snapshot

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
URL = "http://incidentd.test"


def _alert(rule: str, value: float, text: str, level: str, threshold: str, **extra: Any) -> dict[str, Any]:
    return {
        "rule": rule,
        "group": "demo-app-004",
        "value": value,
        "value_text": text,
        "threshold_text": threshold,
        "comparison": "above",
        "level": level,
        "summary": f"{text} of requests fail with 5xx ({level}: above {threshold})"
        if rule == "ErrorRateHigh"
        else f"queue depth is {text} ({level}: above {threshold})",
        "runbook": "004_2522b3a81675c108.txt, Common Issues 4: High Error Rates",
        "series": {"service": "app", "instance": "app-1:9100"},
        "breach_since": (T0 - timedelta(seconds=20)).isoformat(),
        **extra,
    }


def _event(
    n: int, kind: str, data: dict[str, Any], *, actor: str = "rules", source: str = "rules"
) -> TimelineEvent:
    return TimelineEvent(
        id=n, incident_id=1, at=T0 + timedelta(seconds=n), kind=kind, actor=actor, source=source, data=data
    )


def _incident(title: str = "Error rate high on app", **fields: Any) -> Incident:
    values: dict[str, Any] = {
        "id": 1,
        "dedup_key": 'rules:{service="app"}',
        "title": title,
        "description": "",
        "severity": Severity.P1,
        "status": Status.TRIGGERED,
        "labels": {"service": "app", "team": "platform", "alertname": "ErrorRateHigh"},
        "assignee": None,
        "created_by": "rules",
        "source": "rules",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return Incident(**values)


def _raised_story() -> list[TimelineEvent]:
    """Warning at 5 %, the queue joins at warning, then 15 % raises the incident to P1."""
    first = _alert("ErrorRateHigh", 0.05, "5%", "warning", "3%")
    queue = _alert("QueueDepthHigh", 120, "120 jobs", "warning", "50 jobs")
    worse = _alert("ErrorRateHigh", 0.15, "15%", "critical", "10%")
    return [
        _event(1, "declared", {"title": "Error rate high on app", "severity": "P2", **first}),
        _event(2, "attached", {"severity": "P2", **queue}),
        _event(3, "attached", {"severity": "P1", **worse}),
        _event(3, "severity_raised", {"from": "P2", "to": "P1", **worse}),
    ]


def test_after_a_raise_everything_states_the_worst_current_alert_once() -> None:
    snap = snapshot(_incident(), _raised_story(), URL)
    assert snap["state"] == (
        "15% of requests fail with 5xx (critical: above 10%);"
        " queue depth is 120 jobs (warning: above 50 jobs)"
    )
    body = messages.pagerduty_trigger(snap, "k", Severity.P1)
    assert body["summary"] == (
        "P1 INC-1: Error rate high on app: 15% of requests fail with 5xx (critical: above 10%); "
        "queue depth is 120 jobs (warning: above 50 jobs)"
    )
    assert "5%" not in body["summary"].replace("15%", "")
    text, blocks = messages.slack_blocks(snap)
    assert text.count("Error rate high on app") == 1
    assert "warning: above 3%" not in text + str(blocks)


def test_pagerduty_payload_has_the_documented_fields_and_only_real_links() -> None:
    snap = snapshot(_incident(), _raised_story(), URL)
    body = messages.pagerduty_trigger(snap, "k", Severity.P1)
    assert body["source"] == "app-1:9100"
    assert body["payload"] == {
        "timestamp": (T0 - timedelta(seconds=20)).isoformat(),
        "component": "app",
        "group": "platform",
        "class": "ErrorRateHigh",
    }
    assert body["links"] == [{"href": f"{URL}/incidents/1", "text": "INC-1 in incidentd"}]
    assert body["custom_details"]["runbook"].startswith("004_2522b3a81675c108.txt")
    assert body["custom_details"]["alerts"][0] == {
        "rule": "ErrorRateHigh", "firing": True, "level": "critical", "value": "15%", "threshold": "10%",
        "peak": "15%",
    }  # fmt: skip
    linked = {**_alert("E", 1, "1", "warning", "0"), "runbook": "https://wiki.test/run?a=1&b=2"}
    with_url = snapshot(_incident(), [_event(1, "declared", linked)], URL)
    links = messages.pagerduty_trigger(with_url, "k", Severity.P1)["links"]
    assert links[1] == {"href": "https://wiki.test/run?a=1&b=2", "text": "Runbook"}


def test_pagerduty_summary_is_cut_between_words_within_1024() -> None:
    snap = snapshot(_incident(title="word " * 400), [], URL)
    summary = messages.pagerduty_trigger(snap, "k", Severity.P1)["summary"]
    assert len(summary) <= 1024
    assert summary.endswith("word…")


def test_a_manual_incident_does_not_repeat_its_title() -> None:
    incident = _incident(title="Checkout error rate 12%", created_by="@bob", source="slack", labels={})
    snap = snapshot(incident, [_event(1, "declared", {"title": incident.title, "severity": "P1"})], URL)
    text, _ = messages.slack_blocks(snap)
    assert text == "P1 INC-1 triggered: Checkout error rate 12%"
    assert (
        messages.pagerduty_trigger(snap, "k", Severity.P1)["summary"] == "P1 INC-1: Checkout error rate 12%"
    )


def test_when_everything_cleared_the_state_says_so_with_the_peak() -> None:
    events = [*_raised_story(), _event(9, "alert_cleared", {"rule": "ErrorRateHigh", "value_text": "0.2%"}),
              _event(9, "alert_cleared", {"rule": "QueueDepthHigh", "value_text": "3 jobs"})]  # fmt: skip
    state = snapshot(_incident(status=Status.MITIGATED), events, URL)["state"]
    assert (
        state
        == "ErrorRateHigh cleared (now 0.2%, peak 15%); QueueDepthHigh cleared (now 3 jobs, peak 120 jobs)"
    )


def test_slack_blocks_are_valid_block_kit() -> None:
    _, blocks = messages.slack_blocks(snapshot(_incident(), _raised_story(), URL))
    for raw in blocks:
        parsed = Block.parse(raw)
        assert parsed is not None
        parsed.validate_json()


def test_escalation_mentions_resolved_people_and_warns_about_unknown_ones() -> None:
    data = {"level": 2, "level_name": "Technical lead", "reason": "ack_timeout",
            "targets": {"slack_usergroups": ["oncall"], "slack_users": ["@tech-lead", "@ghost"]}}  # fmt: skip
    mentions: dict[tuple[TargetKind, str], str] = {
        ("usergroup", "oncall"): "<!subteam^S0ONCALL|@oncall>",
        ("user", "@tech-lead"): "<@U0TECHLEAD>",
    }
    line = messages.change_line(
        _event(5, "escalated", data, actor="escalation", source="escalation"), mentions
    )
    assert line == (
        ":arrow_double_up: Escalated to Technical lead (ack timeout):"
        " <!subteam^S0ONCALL|@oncall> <@U0TECHLEAD>"
        " :warning: not found in Slack, nobody was mentioned for: @ghost"
    )


HOSTILE = "DB <down> & *bold* <!channel> _it_ ~s~ `x` <@U999|x> <https://evil.test|click>\n> quote"
_OURS = re.compile(r"<(?:https?://[^|>]+\|[^<>]*|@U0[A-Z0-9]+|!subteam\^S0[A-Z0-9]+\|@[^<>]*)>")


def _mrkdwn_texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            return [str(value["text"])]
        return [t for v in value.values() for t in _mrkdwn_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _mrkdwn_texts(v)]
    return []


def _assert_inert(text: str, hostile: str) -> None:
    stripped = _OURS.sub("", text)
    assert "<" not in stripped, text
    assert ">" not in stripped, text
    assert not re.search(r"^(>|&gt;)", text, flags=re.MULTILINE), "outside text must not start a quote line"
    for marker in re.findall(r"[*_~`]\S+?[*_~`]", hostile):
        assert marker not in text, (marker, text)


def _hostile_texts(bad: str) -> list[str]:
    alert = _alert("ErrorRateHigh", 0.15, bad, "critical", bad, summary=bad, runbook=bad,
                   series={"instance": bad})  # fmt: skip
    events = [
        _event(1, "declared", {"title": bad, "severity": "P1", **alert}),
        _event(2, "note", {"text": bad}, actor=bad, source="api"),
        _event(3, "acknowledged", {"to": "acknowledged", "note": bad}, actor=f"@{bad} (U1)", source="slack"),
        _event(4, "assigned", {"to": bad}, actor=bad, source="api"),
        _event(5, "severity_raised", {"from": "P2", "to": "P1", "reason": bad, "summary": bad}),
        _event(
            6,
            "escalated",
            {
                "level": 1,
                "level_name": bad,
                "reason": bad,
                "targets": {"slack_users": [bad], "slack_usergroups": [bad]},
            },
        ),
        _event(7, "action_item_due", {"item": bad, "title": bad, "owner": bad, "due": bad, "stage": "due"}),
    ]
    incident = _incident(title=bad, labels={bad: bad, "service": bad}, assignee=bad, description=bad)
    snap = snapshot(incident, events, URL)
    text, blocks = messages.slack_blocks(snap)
    lines = [line for e in events if (line := messages.change_line(e, {}))]
    return [text, *_mrkdwn_texts(blocks), *lines, link(bad, bad), link("https://ok.test", bad)]


def test_hostile_text_reaches_slack_inert() -> None:
    for text in _hostile_texts(HOSTILE):
        _assert_inert(text, HOSTILE)
    assert (
        escape("DB <down> & *bold* <!channel>") == "DB &lt;down&gt; &amp; \u2217bold\u2217 &lt;!channel&gt;"
    )


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>&*_~`!@#|^:/\n ab12SUhtps.")), min_size=1, max_size=40))
def test_no_generated_text_escapes_into_markup(bad: str) -> None:
    for text in _hostile_texts(bad):
        _assert_inert(text, bad)

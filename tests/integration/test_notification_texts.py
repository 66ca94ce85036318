"""The texts people read as PagerDuty and Slack receive them through the real clients, hostile input too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from notification_harness import (
    BREACH,
    ROOT,
    build_notifications,
    deliver_until,
    notification_settings,
    running_fakes,
)

from service.adapters.postgres.database import Database
from service.config.notification_policy_files import load_notification_policy
from service.domain.incidents import Action, Actor
from service.domain.severity import Severity
from service.notifications.channels.slack.directory import SLACK_DIRECTORY, SlackDirectory
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack

RULES = Actor(name="rules", source="rules")
ALICE = Actor(name="@alice (U0ALICE)", source="slack")
ESCALATION = Actor(name="escalation", source="escalation")
HOSTILE = "DB <down> & *bold* <!channel>"


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakePagerDuty, FakeSlack]]:
    async with running_fakes() as pair:
        yield pair


def _texts(blocks: list[dict[str, Any]]) -> str:
    return msgspec.json.encode(blocks).decode()


async def test_hostile_title_and_labels_reach_slack_inert_and_pagerduty_plain(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack))
    details = {**BREACH, "summary": f"{HOSTILE} 4.2%", "runbook": "<!here> see wiki"}
    declared = await incidents.declare(
        title=HOSTILE, severity=Severity.P1, actor=RULES, labels={"service": "<@U999>"}, details=details
    )
    await incidents.add_note(declared.incident.id, "*restart* <!everyone> now & then", ALICE)
    await deliver_until([sender], lambda: len(pd.events) == 1 and len(slack.calls("chat.postMessage")) == 4)

    [message] = slack.top_level("#alerts")
    shown = message.text + _texts(message.blocks)
    assert "DB &lt;down&gt; &amp; \u2217bold\u2217 &lt;!channel&gt;" in message.text
    for raw in ("<!channel>", "*bold*", "<!here>", "<@U999>", "<down>"):
        assert raw not in shown, raw
    assert "Runbook: &lt;!here&gt; see wiki" in _texts(message.blocks), (
        "a runbook that is no URL is not a link"
    )
    [reply] = slack.replies(message.ts)
    assert reply.text == ":memo: @alice: \u2217restart\u2217 &lt;!everyone&gt; now &amp; then"

    payload = pd.events[0]["payload"]
    assert payload["summary"] == f"P1 INC-{declared.incident.id}: {HOSTILE}: {HOSTILE} 4.2%"
    assert [link["href"] for link in pd.events[0]["links"]] == [
        f"http://incidentd.test/incidents/{declared.incident.id}"
    ]


async def test_all_clear_resolves_pagerduty_once_and_the_incident_stays_mitigated(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack))
    declared = await incidents.declare(
        title="Checkout errors", severity=Severity.P1, actor=RULES, dedup_key="co", details=BREACH
    )
    incident_id = declared.incident.id
    await incidents.act(incident_id, Action.MITIGATE, RULES, details={"reason": "alert cleared"})
    await deliver_until([sender], lambda: len(pd.events) == 2)
    assert [e["event_action"] for e in pd.events] == ["trigger", "resolve"]
    incident, _ = await incidents.get(incident_id)
    assert incident.status.value == "mitigated"

    await incidents.act(incident_id, Action.RESOLVE, ALICE, note="rolled back")
    await deliver_until([sender], lambda: any(" resolved: " in m.text for m in slack.top_level("#alerts")))
    await sender.drain()
    assert [e["event_action"] for e in pd.events] == ["trigger", "resolve"], "PagerDuty was resolved already"


async def test_no_resolve_on_all_clear_when_the_policy_says_so(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    policy = msgspec.structs.replace(
        load_notification_policy(ROOT / "rules" / "policy" / "notifications.yaml"), resolve_when_cleared=False
    )
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack), policy=policy)
    declared = await incidents.declare(
        title="Checkout errors", severity=Severity.P1, actor=RULES, details=BREACH
    )
    await incidents.act(declared.incident.id, Action.MITIGATE, RULES, details={"reason": "alert cleared"})
    await deliver_until([sender], lambda: any(" mitigated: " in m.text for m in slack.top_level("#alerts")))
    await sender.drain()
    assert [e["event_action"] for e in pd.events] == ["trigger"]


async def test_escalation_mentions_the_slack_ids_resolved_from_the_policy_names(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    incidents, sender, component = build_notifications(db, notification_settings(pd, slack))
    directory: SlackDirectory = component.provided(SLACK_DIRECTORY)
    directory.names = [("usergroup", "oncall"), ("user", "@tech-lead"), ("user", "manager@example.com"),
                       ("user", "@nobody-here"), ("usergroup", "ghosts")]  # fmt: skip
    problems = await directory.refresh()
    assert problems == [
        "escalation policy: user '@nobody-here': no Slack user with handle @nobody-here",
        "escalation policy: usergroup 'ghosts': no Slack user group with handle @ghosts",
    ]
    stored = await db.fetch("SELECT kind, name, slack_id FROM slack_directory ORDER BY kind, name")
    assert {(r["kind"], r["name"]): r["slack_id"] for r in stored}[
        ("user", "manager@example.com")
    ] == "U0ENGMGR"
    assert {c["path"] for c in slack.received} >= {
        "/api/usergroups.list",
        "/api/users.list",
        "/api/users.lookupByEmail",
    }

    declared = await incidents.declare(
        title="Checkout errors", severity=Severity.P1, actor=RULES, details=BREACH
    )
    await deliver_until([sender], lambda: len(slack.calls("chat.postMessage")) == 2)
    targets = {
        "slack_usergroups": ["oncall", "ghosts"],
        "slack_users": ["@tech-lead", "manager@example.com", "U0DIRECT"],
    }
    escalated = {"level": 2, "level_name": "Technical lead", "reason": "ack_timeout", "targets": targets}
    await incidents.record(declared.incident.id, "escalated", ESCALATION, escalated)
    await deliver_until([sender], lambda: len(slack.calls("chat.postMessage")) == 4)

    [message] = slack.top_level("#alerts")
    [reply] = slack.replies(message.ts)
    assert reply.text == (
        ":arrow_double_up: Escalated to Technical lead (ack timeout):"
        " <!subteam^S0ONCALL|@oncall> <@U0TECHLEAD> <@U0ENGMGR> <@U0DIRECT>"
        " :warning: not found in Slack, nobody was mentioned for: @ghosts"
    )
    _, events = await incidents.get(declared.incident.id)
    [warning] = [e for e in events if e.kind == "escalation_unmentioned"]
    assert warning.data == {"level": 2, "names": ["usergroup ghosts"]}


async def test_pagerduty_links_the_slack_thread_once_slack_has_it(
    db: Database, fakes: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = fakes
    incidents, sender, component = build_notifications(db, notification_settings(pd, slack))
    directory: SlackDirectory = component.provided(SLACK_DIRECTORY)
    await directory.refresh()  # learns the workspace address from auth.test
    declared = await incidents.declare(
        title="Checkout errors", severity=Severity.P2, actor=RULES, details=BREACH
    )
    await deliver_until([sender], lambda: len(slack.calls("chat.postMessage")) == 1)
    [message] = slack.top_level("#alerts")
    await incidents.change_severity(declared.incident.id, Severity.P1, ALICE, reason="customers affected")
    await deliver_until([sender], lambda: len(pd.events) == 1)
    links = [link["href"] for link in pd.events[0]["links"]]
    assert (
        links[-1]
        == f"https://fake-workspace.slack.test/archives/{message.channel_id}/p{message.ts.replace('.', '')}"
    )

"""`/incident …` over HTTP, signed as Slack signs it, against a real PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from slack_harness import PUBLIC_URL, ROOT, Client, command, slack_app

from service.adapters.postgres.database import Database
from service.app import wait_until_ready
from service.domain.incidents import Actor, Status
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.rca.service import RcaService
from service.slack_commands.parser import USAGES

ALICE = "@alice (U0ALICE)"


@pytest.fixture
async def client(db: Database, database_url: str) -> AsyncIterator[Client]:
    app = slack_app(database_url)
    async with AsyncTestClient(app=app) as test_client:
        await wait_until_ready(app)
        yield test_client


@pytest.fixture
def incidents(db: Database) -> IncidentService:
    """The test's own view of the database (the app runs on another loop with its own pool)."""
    return IncidentService(db)


async def declare(client: Client, text: str = "P2 checkout errors") -> int:
    status, body = await command(client, f"declare {text}")
    assert status == 200, body
    assert body["response_type"] == "in_channel"
    human = body["text"].split("*")[1]
    assert human.startswith("INC-")
    return int(human.removeprefix("INC-"))


async def test_help_lists_every_command_with_an_example(client: Client) -> None:
    for text in ("help", "", "  "):
        status, body = await command(client, text)
        assert status == 200
        assert body["response_type"] == "ephemeral"
        for usage in USAGES:
            assert f"`/incident {usage.syntax}`" in body["text"]
            assert f"`/incident {usage.example}`" in body["text"]


async def test_declare_puts_the_slack_user_on_the_timeline(
    client: Client, incidents: IncidentService
) -> None:
    incident_id = await declare(client, "P1 checkout <@U0BOB|bob> & payments down")
    incident, events = await incidents.get(incident_id)
    assert incident.severity is Severity.P1
    assert incident.title == "checkout @bob & payments down"
    assert incident.created_by == ALICE
    assert incident.source == "slack"
    assert [(e.kind, e.actor, e.source) for e in events] == [("declared", ALICE, "slack")]
    assert events[0].data["slack"] == {"channel_id": "C0INCIDENTS", "channel_name": "incidents"}


async def test_whole_lifecycle_from_slack(client: Client, incidents: IncidentService) -> None:
    incident_id = await declare(client)
    steps = [
        (f"ack {incident_id}", "in_channel", "acknowledged"),
        (f"note INC-{incident_id} cache flushed, errors dropping", "in_channel", "cache flushed"),
        (f"sev #{incident_id} P0", "in_channel", "P2 → P0"),
        (f"assign {incident_id} <@U0BOB|bob>", "in_channel", "@bob"),
        (f"assign {incident_id} me", "in_channel", "<@U0ALICE>"),
        (f"mitigate {incident_id}", "in_channel", "mitigated"),
        (f"resolve {incident_id} rolled back v1.8", "in_channel", "rolled back v1.8"),
        (f"reopen inc-{incident_id}", "in_channel", "reopened"),
    ]
    for text, visibility, expected in steps:
        status, body = await command(client, text)
        assert status == 200
        assert (body["response_type"], expected in body["text"]) == (visibility, True), (text, body)
    incident, events = await incidents.get(incident_id)
    assert incident.status is Status.TRIGGERED
    assert incident.severity is Severity.P0
    assert incident.assignee == "@alice"
    assert [e.kind for e in events] == [
        "declared",
        "acknowledged",
        "note",
        "severity_raised",
        "assigned",
        "assigned",
        "mitigated",
        "resolved",
        "reopened",
    ]
    assert {(e.actor, e.source) for e in events} == {(ALICE, "slack")}
    assert events[4].data["to"] == "@bob"
    assert events[7].data["note"] == "rolled back v1.8"


@pytest.mark.parametrize(
    ("text", "problem", "usage"),
    [
        ("frobnicate 42", "unknown command `frobnicate`", "help"),
        ("akc 42", "Did you mean `ack`", "help"),
        ("ack", "`ack` needs an incident id", "ack ID"),
        ("ack forty-two", "`forty-two` is not an incident id", "ack ID"),
        ("ack 42 now", "`ack` does not take `now`", "ack ID"),
        ("sev 42 P7", "`P7` is not a severity", "sev ID P0..P3"),
        ("sev 42", "`sev` needs a severity", "sev ID P0..P3"),
        ("declare P9 broken", "`P9` is not a severity", "declare P0..P3 title"),
        ("declare P1", "`declare` needs a title", "declare P0..P3 title"),
        ("list P1 open acked", "pick one status filter", "list [P0..P3]"),
        ("list sleeping", "`sleeping` is neither a severity", "list [P0..P3]"),
        ("assign 42", "`assign` needs a person", "assign ID @user"),
        ("note 42", "`note` needs the note's text", "note ID text"),
        ("show 999999", "INC-999999 does not exist", "show ID"),
        ("ack 999999", "INC-999999 does not exist", "ack ID"),
        ("rca 999999", "INC-999999 does not exist", "rca ID"),
    ],
)
async def test_bad_input_gets_a_short_ephemeral_answer_with_usage(
    client: Client, incidents: IncidentService, text: str, problem: str, usage: str
) -> None:
    status, body = await command(client, text)
    assert status == 200
    assert body["response_type"] == "ephemeral"
    assert problem in body["text"]
    assert f"/incident {usage}" in body["text"]
    assert await incidents.list() == []


async def test_invalid_transition_is_refused_and_changes_nothing(
    client: Client, incidents: IncidentService
) -> None:
    incident_id = await declare(client)
    await command(client, f"resolve {incident_id}")
    status, body = await command(client, f"ack {incident_id}")
    assert status == 200
    assert body["response_type"] == "ephemeral"
    assert "cannot acknowledge an incident that is resolved" in body["text"]
    assert "Usage: `/incident ack ID`" in body["text"]
    _, sev = await command(client, f"sev {incident_id} P0")
    assert "reopen it before changing its severity" in sev["text"]
    _, events = await incidents.get(incident_id)
    assert [e.kind for e in events] == ["declared", "resolved"]


async def test_list_filters_and_show(client: Client) -> None:
    p1 = await declare(client, "P1 payments down")
    p3 = await declare(client, "P3 slow dashboard")
    done = await declare(client, "P2 old thing")
    await command(client, f"ack {p1}")
    await command(client, f"resolve {done}")

    _, open_ = await command(client, "list")
    assert open_["response_type"] == "ephemeral"
    assert f"INC-{p1}" in open_["text"]
    assert f"INC-{p3}" in open_["text"]
    assert f"INC-{done}" not in open_["text"]
    assert open_["text"].index(f"INC-{p3}") < open_["text"].index(f"INC-{p1}")  # newest first
    _, only_p1 = await command(client, "list p1")
    assert f"INC-{p1}" in only_p1["text"]
    assert f"INC-{p3}" not in only_p1["text"]
    _, acked = await command(client, "list acked")
    assert f"INC-{p1}" in acked["text"]
    assert f"INC-{p3}" not in acked["text"]
    _, everything = await command(client, "list all")
    assert all(f"INC-{i}" in everything["text"] for i in (p1, p3, done))
    _, none = await command(client, "list P0")
    assert none["text"] == "No P0 open incidents."

    _, shown = await command(client, f"show #{p1}")
    assert shown["response_type"] == "ephemeral"
    assert "acknowledged" in shown["text"]
    assert "payments down" in shown["text"]
    assert f"{PUBLIC_URL}/incidents/{p1}" in shown["text"]
    actions = shown["blocks"][1]["elements"]
    assert [(a["action_id"], a["value"]) for a in actions] == [
        ("incident_resolve", str(p1)),
        ("incident_escalate", str(p1)),
    ]
    _, closed = await command(client, f"show {done}")
    assert len(closed["blocks"]) == 1  # no buttons on a resolved incident


async def test_titles_cannot_ping_the_channel(client: Client, incidents: IncidentService) -> None:
    typed = await declare(client, "P2 <!channel> look <https://evil.example|here>")
    stored, _ = await incidents.get(typed)
    assert stored.title == "@channel look here (https://evil.example)"
    raw = await incidents.declare(
        title="<!channel> db <https://evil.example|down> & out", severity=Severity.P2, actor=Actor("x", "api")
    )
    for incident_id in (typed, raw.incident.id):
        _, shown = await command(client, f"show {incident_id}")
        _, listed = await command(client, "list")
        for text in (shown["text"], shown["blocks"][0]["text"]["text"], listed["text"]):
            assert "<!channel>" not in text
            assert "<https://evil.example" not in text
    assert "&lt;!channel&gt; db &lt;https://evil.example|down&gt; &amp; out" in listed["text"]


async def test_rca_creates_once_then_links(client: Client, db: Database, incidents: IncidentService) -> None:
    incident_id = await declare(client, "P1 payments down")
    await command(client, f"resolve {incident_id} fixed")
    link = f"{PUBLIC_URL}/incidents/{incident_id}/rca"
    _, first = await command(client, f"rca INC-{incident_id}")
    assert first["response_type"] == "in_channel"
    assert "started the RCA" in first["text"]
    assert link in first["text"]
    _, again = await command(client, f"rca {incident_id}")
    assert "(version 1)" in again["text"]
    assert link in again["text"]
    document = await RcaService(db, incidents, ROOT / "incident_templates").get(incident_id)
    assert document.author == ALICE
    assert document.author_source == "slack"


async def test_escalate_and_oncall_use_the_escalation_capability(
    client: Client, incidents: IncidentService
) -> None:
    incident_id = await declare(client, "P1 payments down")
    _, escalated = await command(client, f"escalate {incident_id}")
    assert escalated["response_type"] == "in_channel"
    assert f"escalated *INC-{incident_id}* to L2 technical lead" in escalated["text"]
    _, events = await incidents.get(incident_id)
    assert [(e.kind, e.actor) for e in events][-1] == ("escalated", ALICE)

    await command(client, f"resolve {incident_id}")
    _, refused = await command(client, f"escalate {incident_id}")
    assert refused["response_type"] == "ephemeral"
    assert "nobody left to page" in refused["text"]
    assert "Usage: `/incident escalate ID`" in refused["text"]

    _, oncall = await command(client, "oncall checkout")
    assert oncall["response_type"] == "ephemeral"
    assert "On call for `checkout`" in oncall["text"]
    assert "L1 on-call engineer (at once): @alice, #alerts, PagerDuty pd-primary" in oncall["text"]
    assert "L2 technical lead (after 15m): <@U0LEAD>, PagerDuty pd-leads" in oncall["text"]
    _, empty = await command(client, "oncall nothing")
    assert empty["text"] == "No escalation levels for `nothing`."


async def test_without_escalation_the_commands_say_so(db: Database, database_url: str) -> None:
    app = slack_app(database_url, with_escalation=False)
    async with AsyncTestClient(app=app) as client:
        await wait_until_ready(app)
        incident_id = await declare(client)
        for text in (f"escalate {incident_id}", "oncall"):
            _, body = await command(client, text)
            assert body["response_type"] == "ephemeral"
            assert "escalation is not configured" in body["text"]


async def test_silence_list_and_unsilence_from_slack(client: Client) -> None:
    _, made = await command(client, "silence alertname=DiskFull service=~“pay.*” for 2h disk swap")
    assert made["response_type"] == "in_channel"
    assert 'silenced `{alertname="DiskFull", service=~"pay.*"}` for 2h' in made["text"]
    assert "disk swap" in made["text"]
    silence_id = made["text"].rsplit("id `", 1)[1].rstrip("`")
    _, listed = await command(client, "silences")
    assert silence_id in listed["text"]
    assert "@alice (U0ALICE)" in listed["text"]
    _, ended = await command(client, f"unsilence {silence_id}")
    assert ended["response_type"] == "in_channel"
    assert "ended silence" in ended["text"]
    _, empty = await command(client, "silences")
    assert "No active or pending silences" in empty["text"]
    other = silence_id[:-1] + ("1" if silence_id.endswith("0") else "0")  # an id that is not this one
    _, unknown = await command(client, f"unsilence {other}")
    assert "not found" in unknown["text"]
    _, window = await command(client, "maintenance start 2h service=payments")
    assert 'started maintenance for 2h: `{service="payments"}` is muted' in window["text"]


async def test_silence_refusals_say_what_to_type(client: Client) -> None:
    for text, problem in [
        ("silence api_error_rate 1h", "say how long"),
        ("silence service=payments for soon", "not a duration"),
        ('silence service=~"(" for 1h', "invalid regex"),
        ('silence service=~".*" for 1h', "silence every alert"),
        ("silence service<>x for 1h", "expected name=value"),
    ]:
        _, body = await command(client, text)
        assert body["response_type"] == "ephemeral"
        assert problem in body["text"], text
        assert "Usage: `/incident silence MATCHERS for DURATION" in body["text"]


async def test_foreign_command_names(client: Client) -> None:
    _, foreign = await command(client, "help", command="/other")
    assert foreign["response_type"] == "ephemeral"
    assert "answers /incident, not /other" in foreign["text"]


async def test_command_name_is_configurable(db: Database, database_url: str) -> None:
    app = slack_app(database_url, command="/inc")
    async with AsyncTestClient(app=app) as client:
        await wait_until_ready(app)
        _, body = await command(client, "help", command="/inc")
        assert "`/inc ack ID`" in body["text"]
        _, other = await command(client, "help", command="/incident")
        assert "answers /inc, not /incident" in other["text"]


async def test_bearer_auth_still_guards_the_api(client: Client) -> None:
    assert (await client.get("/api/v1/incidents")).status_code == 401
    writer = {"Authorization": "Bearer writer-token-1"}
    assert (await client.get("/api/v1/incidents", headers=writer)).status_code == 200


async def test_acking_an_acknowledged_incident_says_who_has_it_and_since_when(
    client: Client, incidents: IncidentService
) -> None:
    incident_id = await declare(client, "P2 payments slow")
    await command(client, f"ack {incident_id}", user_id="U0ALICE", user_name="alice")
    status, body = await command(client, f"ack INC-{incident_id}", user_id="U0BOB", user_name="bob")
    assert status == 200
    assert body["response_type"] == "ephemeral"
    assert re.fullmatch(
        rf":eyes: \*INC-{incident_id}\* was already acknowledged by @alice \d+s ago", body["text"]
    )
    _, events = await incidents.get(incident_id)
    assert [e.kind for e in events] == ["declared", "acknowledged"], "the second ack changes nothing"


async def test_show_lists_each_delivery_target_once_with_its_state(
    client: Client, incidents: IncidentService
) -> None:
    incident_id = await declare(client, "P1 checkout down")
    notifier = Actor("notifications", "system")
    for kind in ("trigger", "acknowledge"):
        await incidents.record(incident_id, "notification_sent", notifier,
                               {"channel": "pagerduty", "kind": kind, "target": "default"})  # fmt: skip
    for channel in ("#alerts", "#alerts-critical"):
        await incidents.record(incident_id, "notification_sent", notifier,
                               {"channel": "slack", "kind": "post", "target": channel})  # fmt: skip
    failed = {"channel": "slack", "kind": "update", "target": "#alerts", "error": "<!channel> 500"}
    await incidents.record(incident_id, "notification_failed", notifier, failed)
    _, shown = await command(client, f"show {incident_id}")
    text = shown["text"]
    assert "notification_sent" not in text
    lines = [line for line in text.splitlines() if line.startswith("• ")]
    assert len(lines) == 3
    assert lines[0].startswith("• PagerDuty default: trigger sent `")
    assert ", acknowledge sent `" in lines[0]
    assert lines[1].startswith("• Slack #alerts: post sent `")
    assert "update *FAILED*" in lines[1]
    assert "&lt;!channel&gt; 500" in lines[1]
    assert lines[2].startswith("• Slack #alerts-critical: post sent")

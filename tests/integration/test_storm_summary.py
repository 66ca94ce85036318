"""A 1,000-incident storm through the real slack_sdk client: every incident named in Slack exactly once."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from notification_harness import build_notifications, notification_settings, outbox, running_fakes

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.domain.incidents import Action, Actor
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.notifications.sender import Sender
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import MAX_BLOCKS, SECTION_TEXT_MAX, FakeSlack, SlackMessage

RULES = Actor(name="rules", source="rules")
ALICE = Actor(name="alice", source="api")
STORM = 1000
_LINK = re.compile(r"<([^|<>]+)\|")
_SPAN = re.compile(r"Incidents (\d+)–(\d+) of (\d+)")
_TOTAL = re.compile(r"(\d+) new incidents in")


def _texts(message: SlackMessage) -> list[str]:
    found = [message.text]
    for block in message.blocks:
        if isinstance(block.get("text"), dict):
            found.append(str(block["text"].get("text", "")))
        found += [str(f.get("text", "")) for f in block.get("fields") or []]
        found += [str(e.get("text", "")) for e in block.get("elements") or [] if e.get("type") == "mrkdwn"]
    return found


def _named(message: SlackMessage, by_url: dict[str, int]) -> set[int]:
    return {by_url[url] for text in _texts(message) for url in _LINK.findall(text) if url in by_url}


class Storm(NamedTuple):
    incidents: IncidentService
    sender: Sender
    everyone: set[int]
    critical: set[int]
    by_url: dict[str, int]


async def _storm(db: Database, pd: FakePagerDuty, slack: FakeSlack) -> Storm:
    """A thousand incidents declared within one storm interval, then delivered once it ends."""
    clock = FrozenClock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))
    incidents, sender, _ = build_notifications(db, notification_settings(pd, slack), clock=clock)
    for index in range(STORM):
        severity = Severity.P1 if index % 5 == 0 else (Severity.P2 if index % 2 else Severity.P3)
        title = f"node-{index:04d} <unreachable> & {'x' * (index % 300)}"
        await incidents.declare(title=title, severity=severity, actor=RULES, dedup_key=f"node-{index}")
        clock.advance(timedelta(milliseconds=10))
    await sender.drain()
    clock.advance(timedelta(seconds=70))
    await sender.drain()
    clock.advance(timedelta(seconds=5))
    await sender.drain()
    rows = await db.fetch("SELECT id, severity FROM incidents")
    posts = await outbox(db, kind="post")
    return Storm(
        incidents=incidents,
        sender=sender,
        everyone={int(r["id"]) for r in rows},
        critical={int(r["id"]) for r in rows if r["severity"] <= Severity.P1.value},
        by_url={str(r["payload"]["snapshot"]["url"]): int(r["incident_id"]) for r in posts},
    )


def _check_channel(slack: FakeSlack, channel: str, expected: set[int], by_url: dict[str, int]) -> None:
    top = slack.top_level(channel)
    counts: Counter[int] = Counter()
    summary_named: list[int] = []
    spans: list[tuple[int, int, int]] = []
    totals: list[int] = []
    for message in top:
        named = _named(message, by_url)
        counts.update(named)
        head = _texts(message)[1] if message.blocks else ""
        if "Incident storm" not in head:
            assert len(named) == 1, "an incident's own post names that incident"
            continue
        assert len(message.blocks) <= MAX_BLOCKS
        assert all(len(t) <= SECTION_TEXT_MAX for t in _texts(message)[1:])
        assert len(message.text) <= 4000
        summary_named += named
        first, last, total = map(int, _SPAN.search(head).groups())  # type: ignore[union-attr]
        assert last - first + 1 == len(named), "each part says how many it names"
        spans.append((first, last, total))
        totals += [int(n) for n in _TOTAL.findall(head)]
    assert set(counts) == expected, f"{len(expected - set(counts))} incidents never named in {channel}"
    assert set(counts.values()) == {1}, "no incident named twice"
    assert totals == [len(summary_named)], "the header's count is what the summary names"
    assert [s[0] for s in spans] == [1] + [s[1] + 1 for s in spans[:-1]]
    assert spans[-1][1] == spans[-1][2] == len(summary_named)


async def test_a_thousand_incident_storm_names_every_incident_exactly_once(db: Database) -> None:
    async with running_fakes() as (pd, slack):
        storm = await _storm(db, pd, slack)
        assert len(storm.everyone) == STORM
        _check_channel(slack, "#alerts", storm.everyone, storm.by_url)
        _check_channel(slack, "#alerts-critical", storm.critical, storm.by_url)
        assert len(slack.top_level("#alerts")) > 11, "a thousand lines do not fit one message"
        assert {r["status"] for r in await outbox(db, channel="slack")} <= {"sent", "coalesced"}

        # A storm member's later change replies in the thread of the part that names it.
        member = max(storm.everyone)
        await storm.incidents.act(member, Action.ACKNOWLEDGE, ALICE)
        await storm.sender.drain()
        url = next(u for u, i in storm.by_url.items() if i == member)
        part = next(m for m in slack.top_level("#alerts") if member in _named(m, {url: member}))
        replies = slack.replies(part.ts)
        assert len(replies) == 1
        assert "Acknowledged" in replies[0].text


class _CutAfter(FakeSlack):
    """Refuses one storm part after `allowed` of them, as a rate limit part-way through would."""

    allowed: int = 3
    refused: int = 0

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        storm = [m for m in self.messages.values() if "Incident storm" in m.text]
        if "Incident storm" in str(body.get("text")) and len(storm) == self.allowed and not self.refused:
            self.refused += 1
            return {"ok": False, "error": "ratelimited"}
        return super()._post(body)


async def test_a_storm_cut_short_part_way_posts_only_the_rest(db: Database) -> None:
    async with running_fakes(_CutAfter()) as (pd, slack):
        storm = await _storm(db, pd, slack)
        assert isinstance(slack, _CutAfter)
        assert slack.refused == 1, "the fourth part was refused once"
        _check_channel(slack, "#alerts", storm.everyone, storm.by_url)
        _check_channel(slack, "#alerts-critical", storm.critical, storm.by_url)
        heads = [_texts(m)[1] for m in slack.top_level("#alerts") if "Incident storm" in m.text]
        assert "(continued)" in heads[3], "the retry continues the numbering of the parts already posted"

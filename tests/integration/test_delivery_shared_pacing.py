"""Two replicas together stay within a channel's rate limit, because the pacing state is in PostgreSQL.

Slack allows about one message a second per channel. The first test scales the limit up
(20 messages/s instead of 1) to stay short and measures in units of it; the second runs at
the policy file's real pacing (1 message/s per channel) for 60 s. Both: two senders with 100
incidents must stay at or below 1.2 x the limit per channel, on the timestamps at which the
Slack fake received the messages. Each sender alone would send at the limit, so without shared
state the pair would reach about twice it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from notification_harness import build_notifications, notification_settings, running_fakes

from service.adapters.postgres.database import Database
from service.domain.incidents import Actor
from service.domain.severity import Severity
from service.notifications.notifier import Pacing

RATE = 20.0  # messages a second per channel, the scaled-up stand-in for Slack's 1
INCIDENTS = 100
CONCURRENCY = 4
RULES = Actor(name="rules", source="rules")
REAL_WINDOW = 60.0  # seconds measured at Slack's real rate


async def test_two_senders_with_100_incidents_stay_within_the_channel_rate(
    db: Database, database_url: str
) -> None:
    # Each replica with a pool of its own, sized as production sizes the sender's.
    pools = [Database(database_url, min_size=1, max_size=2 * CONCURRENCY + 2) for _ in range(2)]
    async with running_fakes() as (pd, slack):
        settings = notification_settings(pd, slack)
        pacing = {"slack": Pacing(rate=RATE, burst=1.0), "pagerduty": None}
        replicas = [
            build_notifications(pool, settings, storm=False, pacing=pacing, concurrency=CONCURRENCY)
            for pool in pools
        ]
        incidents = replicas[0][0]
        first, second = (sender for _, sender, _ in replicas)
        for index in range(INCIDENTS):
            await incidents.declare(
                title=f"node {index} down", severity=Severity.P3, actor=RULES, dedup_key=f"n{index}"
            )
        stop = asyncio.Event()
        runs = [asyncio.create_task(s.run(stop)) for s in (first, second)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(slack.calls("chat.postMessage")) < INCIDENTS and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.gather(*runs)
        for pool in pools:
            await pool.close()

    posts = [r for r in slack.received if r["path"] == "/api/chat.postMessage" and r.get("ok")]
    assert len(posts) == INCIDENTS, "every incident's message reached Slack"
    by_channel: dict[str, list[float]] = defaultdict(list)
    for post in posts:
        by_channel[str(post["body"]["channel"])].append(float(post["at"]))
    for channel, times in by_channel.items():
        times.sort()
        span = times[-1] - times[0]
        overall = (len(times) - 1) / span
        assert overall <= 1.2 * RATE, f"{channel}: {overall:.1f} messages/s over {span:.1f}s"
        # And in any one-second window, not just on average.
        busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
        assert busiest <= 1.2 * RATE + 1, f"{channel}: {busiest} messages in one second"
    both = {r["body"]["channel"] for r in posts}
    assert both, "messages were posted"


async def _two_senders_for(
    db: Database, database_url: str, seconds: float, **pacing_options: Any
) -> list[dict[str, Any]]:
    """What the Slack fake received from two replicas with 100 incidents queued, within `seconds`."""
    pools = [Database(database_url, min_size=1, max_size=2 * CONCURRENCY + 2) for _ in range(2)]
    async with running_fakes() as (pd, slack):
        settings = notification_settings(pd, slack)
        replicas = [
            build_notifications(pool, settings, storm=False, concurrency=CONCURRENCY, **pacing_options)
            for pool in pools
        ]
        incidents = replicas[0][0]
        for index in range(INCIDENTS):
            await incidents.declare(
                title=f"node {index} down", severity=Severity.P3, actor=RULES, dedup_key=f"n{index}"
            )
        stop = asyncio.Event()
        runs = [asyncio.create_task(sender.run(stop)) for _, sender, _ in replicas]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds + 5
        while len(slack.calls("chat.postMessage")) < INCIDENTS and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*runs)
        for pool in pools:
            await pool.close()
    return [r for r in slack.received if r["path"] == "/api/chat.postMessage" and r.get("ok")]


@pytest.mark.slow
async def test_at_slack_s_real_rate_two_senders_stay_within_1_2_per_second_over_60_s(
    db: Database, database_url: str
) -> None:
    # No pacing override for Slack: the policy file's min_interval (1 s), as production paces.
    posts = await _two_senders_for(
        db, database_url, REAL_WINDOW, slack_min_interval=None, pacing={"pagerduty": None}
    )
    by_channel: dict[str, list[float]] = defaultdict(list)
    for post in posts:
        by_channel[str(post["body"]["channel"])].append(float(post["at"]))
    assert set(by_channel) == {"#alerts"}, "P3 incidents go to #alerts only"
    times = sorted(by_channel["#alerts"])
    within = [t for t in times if t < times[0] + REAL_WINDOW]
    rate = len(within) / REAL_WINDOW
    assert rate <= 1.2, f"#alerts: {len(within)} messages in {REAL_WINDOW:.0f}s ({rate:.2f}/s)"
    assert times[-1] - times[0] >= REAL_WINDOW - 1, "the senders were measured over the whole minute"
    assert rate >= 0.8, f"#alerts: only {len(within)} messages in {REAL_WINDOW:.0f}s: paced far below Slack"
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 2, f"#alerts: {busiest} messages in one second"

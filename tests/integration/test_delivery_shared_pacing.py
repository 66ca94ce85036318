"""Two replicas together stay within a channel's rate limit, because the pacing state is in PostgreSQL.

Slack allows about one message a second per channel. To keep the test short the policy's
limit is scaled up (20 messages/s instead of 1) and everything is measured in units of it:
two senders with 100 incidents must stay at or below 1.2 x the limit per channel, on the
timestamps at which the Slack fake received the messages. Each sender alone would send at
the limit, so without shared state the pair would reach about twice it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from notification_harness import build_notifications, notification_settings, running_fakes

from service.adapters.postgres.database import Database
from service.domain.incidents import Actor
from service.domain.severity import Severity
from service.notifications.notifier import Pacing

RATE = 20.0  # messages a second per channel, the scaled-up stand-in for Slack's 1
INCIDENTS = 100
CONCURRENCY = 4
RULES = Actor(name="rules", source="rules")


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

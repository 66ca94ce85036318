"""A backlog drains across many targets at once: one read feeds many sends, each target in order.

The sender's `run` reads the due heads of every target in one query (`store.due_heads`) and
sends to up to `concurrency` of them at once, each locking its row again in its own transaction.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from notification_harness import build_notifications, notification_settings, running_fakes

from service.adapters.postgres.database import Database
from service.domain.incidents import Actor
from service.domain.severity import Severity
from service.notifications import store

RULES = Actor(name="rules", source="rules")
KEYS = 8


async def _row(db: Database, incident: int | None, target: str, at: datetime) -> int:
    row_id: int = await db.fetchval(
        "INSERT INTO notification_outbox (incident_id, channel, kind, target, next_attempt_at, created_at)"
        " VALUES ($1, 'pagerduty', 'trigger', $2, $3, $3) RETURNING id",
        incident,
        target,
        at,
    )
    return row_id


async def test_due_heads_gives_each_free_target_its_oldest_eligible_row(db: Database) -> None:
    now = datetime.now(UTC)
    incidents, _, _ = build_notifications(db, notification_settings(None, None))
    first = (await incidents.declare(title="a", severity=Severity.P3, actor=RULES, dedup_key="a")).incident
    second = (await incidents.declare(title="b", severity=Severity.P3, actor=RULES, dedup_key="b")).incident
    await db.execute("DELETE FROM notification_outbox")
    a1 = await _row(db, first.id, "ka", now - timedelta(seconds=3))
    await _row(db, first.id, "ka", now - timedelta(seconds=5))  # older, but waits for a1 (same incident)
    b1 = await _row(db, second.id, "kb", now - timedelta(seconds=2))
    await _row(db, second.id, "kb", now - timedelta(seconds=1))
    c1 = await _row(db, None, "kc", now - timedelta(seconds=1))
    await _row(db, None, "kd", now + timedelta(seconds=60))  # not due
    await _row(db, None, "ke", now)
    await db.execute(
        "INSERT INTO notification_pacing (channel, target, tokens, refilled_at, blocked_until)"
        " VALUES ('pagerduty', 'ke', 0, $1, $2)",
        now,
        now + timedelta(seconds=5),
    )

    async with db.connection() as conn:
        heads = await store.due_heads(conn, now, 10, [])
        assert [h.id for h in heads] == [a1, b1, c1], "one per target, oldest first; paced ke left out"
        busy = await store.due_heads(conn, now, 10, [("pagerduty", "kb")])
        assert [h.id for h in busy] == [a1, c1]
        assert [h.id for h in await store.due_heads(conn, now, 1, [])] == [a1]

    async with db.transaction() as conn:
        locked = await store.lock_head(conn, b1, now)
        assert locked is not None
        assert locked.id == b1
        async with db.transaction() as other:
            assert await store.lock_head(other, b1, now) is None, "a locked head is skipped"
        await store.mark(conn, [b1], "sent", now)
    async with db.transaction() as conn:
        assert await store.lock_head(conn, b1, now) is None, "a head sent in between is not sent again"


async def test_a_slow_provider_gets_many_routing_keys_in_flight_at_once_and_each_event_once(
    db: Database, database_url: str
) -> None:
    env = {f"PAGERDUTY_ROUTING_KEY_KEY{k}": f"R{k:031d}" for k in range(KEYS)}
    concurrency = KEYS + 2  # the two Slack channels of P1 take two slots
    pool = Database(database_url, min_size=1, max_size=2 * concurrency + 2)  # sized as production's
    async with running_fakes() as (pd, slack):
        pd.latency = 1.0  # each call takes a second: sends one after another would arrive a second apart
        incidents, sender, _ = build_notifications(
            pool, notification_settings(pd, slack), env=env, storm=False, concurrency=concurrency
        )
        for index in range(2 * KEYS):
            await incidents.declare(
                title=f"disk {index} full", severity=Severity.P1, actor=RULES, dedup_key=f"d{index}"
            )
        await db.execute(
            "UPDATE notification_outbox SET target = 'key' || (incident_id % $1) WHERE channel = 'pagerduty'",
            KEYS,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(sender.run(stop))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(pd.events) < 2 * KEYS and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        stop.set()
        await running
    await pool.close()

    arrivals = sorted(r["at"] for r in pd.received if r.get("accepted"))
    assert len(arrivals) == 2 * KEYS, "every trigger arrived"
    first_round = arrivals[:KEYS]
    assert first_round[-1] - first_round[0] < 0.9, f"{KEYS} keys were not in flight together: {arrivals}"
    seen = Counter(e["dedup_key"] for e in pd.events)
    assert set(seen.values()) == {1}, f"sent twice: {seen}"
    assert await db.fetchval("SELECT count(*) FROM notification_outbox WHERE status = 'pending'") == 0


async def test_due_heads_lets_the_channels_take_turns_so_pages_never_wait_behind_posts(db: Database) -> None:
    now = datetime.now(UTC)
    await db.execute("DELETE FROM notification_outbox")
    posts = []
    for n in range(5):
        posts.append(
            await db.fetchval(
                "INSERT INTO notification_outbox (channel, kind, target, next_attempt_at, created_at)"
                " VALUES ('slack', 'notice', $1, $2, $2) RETURNING id",
                f"#room-{n}",
                now - timedelta(seconds=10 - n),
            )
        )
    page = await _row(db, None, "ka", now)
    async with db.connection() as conn:
        heads = await store.due_heads(conn, now, 2, [])
    assert [h.id for h in heads] == [posts[0], page], "the newer page shares the slots with the old posts"

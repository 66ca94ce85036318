"""Each stage of the delivery pipeline alone, against real PostgreSQL, with a fake channel plug-in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from service.adapters.postgres.database import Database
from service.domain.delivery_retry import GiveUp, RetryLater
from service.domain.notification_policy import DeliveryPolicy
from service.notifications import store
from service.notifications.notifier import Attempt, Notifiers, Outcome, Pacing, Plan
from service.notifications.outbox import enqueue
from service.notifications.outcomes import DeliveryError
from service.notifications.pipeline.hold import hold, release_held
from service.notifications.pipeline.pacing import SharedPacing
from service.notifications.pipeline.retry import RetryStage
from service.notifications.pipeline.send import SendStage
from service.notifications.store import OutboxRow

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = DeliveryPolicy(
    max_attempts=3,
    max_age=timedelta(hours=1),
    backoff_initial=timedelta(seconds=2),
    backoff_max=timedelta(seconds=30),
)


class FakeNotifier:
    """A channel that records what it was asked to send and answers as told."""

    def __init__(self, name: str = "fake", *, ready: bool = True, pacing: Pacing | None = None) -> None:
        self._name = name
        self.is_ready = ready
        self._pacing = pacing
        self.sent: list[Attempt] = []
        self.retried: list[tuple[int, datetime]] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def pacing(self) -> Pacing | None:
        return self._pacing

    def ready(self, target: str) -> bool:
        return self.is_ready

    def hold_scope(self, target: str) -> str | None:
        return target

    def check_target(self, target: str) -> str | None:
        return None

    def secrets(self) -> Sequence[str]:
        return []

    async def plan(self, conn: asyncpg.Connection, head: OutboxRow, now: datetime) -> Plan:
        return Plan(batch=[head])

    async def send(self, attempt: Attempt) -> object:
        self.sent.append(attempt)
        return "ok"

    def interpret(self, attempt: Attempt, answer: object) -> Outcome:
        return Outcome(receipt=answer == "ok")

    async def after_retry(self, conn: asyncpg.Connection, head: OutboxRow, retry_at: datetime) -> None:
        self.retried.append((head.id, retry_at))

    async def close(self) -> None:
        return None


async def _queue(db: Database, channel: str = "fake", target: str = "t1") -> OutboxRow:
    async with db.transaction() as conn:
        row_id = await enqueue(
            conn, incident_id=None, channel=channel, kind="note", target=target, payload={"n": 1}, now=T0
        )
        assert row_id is not None
        row = await store.get(conn, row_id)
    assert row is not None
    return row


async def test_hold_keeps_rows_with_their_reason_and_release_waits_for_credentials(db: Database) -> None:
    await _queue(db)
    await _queue(db, target="t2")
    fake = FakeNotifier(ready=False)
    async with db.transaction() as conn:
        assert await hold(conn, "fake", "t1", "no key for t1") == 1
        assert await release_held(conn, Notifiers([fake]), T0) == 0
    rows = {r["target"]: r for r in await db.fetch("SELECT * FROM notification_outbox")}
    assert rows["t1"]["status"] == "held"
    assert rows["t1"]["last_error"] == "no key for t1"
    assert rows["t2"]["status"] == "pending"
    fake.is_ready = True
    async with db.transaction() as conn:
        assert await release_held(conn, Notifiers([]), T0) == 0  # no plug-in: stays held
        assert await release_held(conn, Notifiers([fake]), T0) == 1
    assert {r["status"] for r in await db.fetch("SELECT status FROM notification_outbox")} == {"pending"}


async def test_any_channel_name_is_accepted_by_the_outbox(db: Database) -> None:
    row = await _queue(db, channel="email", target="oncall@example.com")
    assert row.channel == "email"


async def test_pacing_is_shared_through_postgres_by_separate_instances(db: Database) -> None:
    first, second = SharedPacing(db), SharedPacing(db)
    pacing = Pacing(rate=1.0, burst=2.0)
    results = [
        (await first.take("slack", "#a", pacing, T0)).allowed,
        (await second.take("slack", "#a", pacing, T0)).allowed,
        (await first.take("slack", "#a", pacing, T0)).allowed,
        (await second.take("slack", "#b", pacing, T0)).allowed,  # another target has its own bucket
    ]
    assert results == [True, True, False, True]
    blocked = await db.fetchval(
        "SELECT blocked_until FROM notification_pacing WHERE channel = 'slack' AND target = '#a'"
    )
    assert blocked == T0 + timedelta(seconds=1)
    assert (await second.take("slack", "#a", pacing, T0 + timedelta(seconds=1))).allowed


async def test_a_paced_target_is_skipped_by_the_claim_until_its_token(db: Database) -> None:
    await _queue(db, target="t1")
    await SharedPacing(db).pause("fake", "t1", T0 + timedelta(seconds=30), T0, 1.0)
    async with db.transaction() as conn:
        assert await store.claim(conn, T0 + timedelta(seconds=29)) is None
        assert await store.claim(conn, T0 + timedelta(seconds=30)) is not None


async def test_send_notes_the_attempt_first_and_says_when_an_earlier_one_may_have_gone(db: Database) -> None:
    row = await _queue(db)
    fake = FakeNotifier()
    stage = SendStage(db)
    async with db.transaction() as conn:
        outcome = await stage(conn, fake, row, Plan(batch=[row]), T0)
    assert outcome.receipt
    assert not fake.sent[0].maybe_sent
    # The first call's outcome never committed (a crash): the second one knows.
    async with db.transaction() as conn:
        await stage(conn, fake, row, Plan(batch=[row]), T0)
    assert fake.sent[1].maybe_sent
    assert await db.fetchval("SELECT attempts FROM notification_attempts WHERE outbox_id = $1", row.id) == 2


async def test_retry_reschedules_with_backoff_then_dead_letters(db: Database) -> None:
    row = await _queue(db)
    fake = FakeNotifier()
    stage = RetryStage(POLICY, SharedPacing(db), jitter=lambda low, high: high)
    error = DeliveryError("HTTP 503", retry=True)
    async with db.transaction() as conn:
        first = await stage(conn, fake, row, error, T0)
    assert isinstance(first, RetryLater)
    assert first.at == T0 + timedelta(seconds=2)
    assert fake.retried == [(row.id, first.at)]
    stored = await db.fetchrow("SELECT * FROM notification_outbox WHERE id = $1", row.id)
    assert stored is not None
    assert stored["status"] == "pending"
    assert stored["attempts"] == 1
    assert stored["next_attempt_at"] == first.at
    again = await _fetch(db, row.id)
    async with db.transaction() as conn:
        await stage(conn, fake, again, error, T0)
    last = await _fetch(db, row.id)
    async with db.transaction() as conn:
        dead = await stage(conn, fake, last, error, T0)
    assert isinstance(dead, GiveUp)
    assert await db.fetchval("SELECT status FROM notification_outbox WHERE id = $1", row.id) == "dead"


async def test_retry_after_pauses_the_whole_target_for_every_replica(db: Database) -> None:
    row = await _queue(db)
    await _queue(db)
    stage = RetryStage(POLICY, SharedPacing(db), jitter=lambda low, high: low)
    async with db.transaction() as conn:
        await stage(conn, FakeNotifier(), row, DeliveryError("429", retry=True, retry_after=20.0), T0)
    async with db.transaction() as conn:
        assert await store.claim(conn, T0 + timedelta(seconds=19)) is None  # the other row waits too
        assert await store.claim(conn, T0 + timedelta(seconds=20)) is not None


async def test_a_refused_send_is_a_dead_letter_at_once(db: Database) -> None:
    row = await _queue(db)
    stage = RetryStage(POLICY, SharedPacing(db))
    async with db.transaction() as conn:
        decision = await stage(conn, FakeNotifier(), row, DeliveryError("HTTP 400", retry=False), T0)
    assert isinstance(decision, GiveUp)


async def _fetch(db: Database, row_id: int) -> OutboxRow:
    async with db.connection() as conn:
        row = await store.get(conn, row_id)
    assert row is not None
    return row

"""The delivery pipeline's pure rules, each alone: the shared token bucket and the retry decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from service.domain import delivery_pacing
from service.domain.delivery_retry import GiveUp, RetryLater, decide
from service.domain.notification_policy import DeliveryPolicy
from service.notifications.channels.pagerduty.notifier import PACING as PAGERDUTY

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = DeliveryPolicy(
    max_attempts=5,
    max_age=timedelta(hours=1),
    backoff_initial=timedelta(seconds=2),
    backoff_max=timedelta(seconds=30),
)


def _low(low: float, high: float) -> float:
    return low


def _high(low: float, high: float) -> float:
    return high


def test_a_bucket_lets_its_burst_through_then_one_per_interval() -> None:
    bucket = delivery_pacing.full(2.0, T0)
    for _ in range(2):
        taken = delivery_pacing.take(bucket, rate=1.0, burst=2.0, now=T0)
        assert taken.allowed
        bucket = taken.bucket
    refused = delivery_pacing.take(bucket, rate=1.0, burst=2.0, now=T0)
    assert not refused.allowed
    assert refused.blocked_until == T0 + timedelta(seconds=1)
    half = delivery_pacing.take(refused.bucket, rate=1.0, burst=2.0, now=T0 + timedelta(milliseconds=500))
    assert not half.allowed
    assert half.blocked_until == T0 + timedelta(seconds=1)
    later = delivery_pacing.take(half.bucket, rate=1.0, burst=2.0, now=T0 + timedelta(seconds=1))
    assert later.allowed


def test_a_bucket_never_saves_more_than_its_burst() -> None:
    bucket = delivery_pacing.full(1.0, T0)
    first = delivery_pacing.take(bucket, rate=1.0, burst=1.0, now=T0 + timedelta(hours=1))
    assert first.allowed
    second = delivery_pacing.take(first.bucket, rate=1.0, burst=1.0, now=T0 + timedelta(hours=1))
    assert not second.allowed


def test_over_a_minute_a_paced_target_gets_rate_times_sixty_plus_its_burst() -> None:
    bucket = delivery_pacing.full(10.0, T0)
    sent = 0
    for step in range(60_000):  # a try every millisecond for a minute
        taken = delivery_pacing.take(bucket, rate=2.0, burst=10.0, now=T0 + timedelta(milliseconds=step))
        bucket = taken.bucket
        sent += taken.allowed
    assert sent == 2 * 60 + 10 - 1 or sent == 2 * 60 + 10


def test_retry_after_pauses_the_target_even_with_tokens_left() -> None:
    bucket = delivery_pacing.pause(delivery_pacing.full(5.0, T0), T0 + timedelta(seconds=30))
    during = delivery_pacing.take(bucket, rate=1.0, burst=5.0, now=T0 + timedelta(seconds=10))
    assert not during.allowed
    assert during.blocked_until == T0 + timedelta(seconds=30)
    after = delivery_pacing.take(during.bucket, rate=1.0, burst=5.0, now=T0 + timedelta(seconds=30))
    assert after.allowed
    assert after.bucket.paused_until is None


def test_a_shorter_retry_after_never_shortens_a_pause() -> None:
    bucket = delivery_pacing.pause(delivery_pacing.full(1.0, T0), T0 + timedelta(seconds=30))
    bucket = delivery_pacing.pause(bucket, T0 + timedelta(seconds=5))
    assert bucket.paused_until == T0 + timedelta(seconds=30)


def test_backoff_doubles_up_to_its_maximum_with_jitter_below() -> None:
    def at(attempts: int) -> float:
        decision = decide(
            POLICY, attempts=attempts, created_at=T0, now=T0, retry=True, retry_after=None, jitter=_high
        )
        assert isinstance(decision, RetryLater)
        assert decision.pause_target_until is None
        return (decision.at - T0).total_seconds()

    assert [at(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    low = decide(POLICY, attempts=2, created_at=T0, now=T0, retry=True, retry_after=None, jitter=_low)
    assert isinstance(low, RetryLater)
    assert low.at == T0 + timedelta(seconds=2)
    capped = decide(
        msgspec.structs.replace(POLICY, max_attempts=50),
        attempts=20,
        created_at=T0,
        now=T0,
        retry=True,
        retry_after=None,
        jitter=_high,
    )
    assert isinstance(capped, RetryLater)
    assert capped.at == T0 + timedelta(seconds=30)


def test_retry_after_is_honoured_never_sooner_and_pauses_the_target() -> None:
    decision = decide(POLICY, attempts=1, created_at=T0, now=T0, retry=True, retry_after=7.0, jitter=_low)
    assert isinstance(decision, RetryLater)
    assert decision.at == T0 + timedelta(seconds=7)
    assert decision.pause_target_until == T0 + timedelta(seconds=7)


def test_dead_letter_when_retrying_cannot_help_or_too_many_or_too_old() -> None:
    refused = decide(POLICY, attempts=1, created_at=T0, now=T0, retry=False, retry_after=None, jitter=_low)
    assert isinstance(refused, GiveUp)
    many = decide(POLICY, attempts=5, created_at=T0, now=T0, retry=True, retry_after=None, jitter=_low)
    assert isinstance(many, GiveUp)
    assert "5 attempts" in many.reason
    old = decide(
        POLICY,
        attempts=1,
        created_at=T0,
        now=T0 + timedelta(hours=1),
        retry=True,
        retry_after=None,
        jitter=_low,
    )
    assert isinstance(old, GiveUp)
    young = decide(POLICY, attempts=4, created_at=T0, now=T0, retry=True, retry_after=None, jitter=_low)
    assert isinstance(young, RetryLater)


def _most_in_a_minute(rate: float, burst: float) -> int:
    """Try every 10 ms for three minutes; the most sends that any 60-second window saw."""
    bucket = delivery_pacing.full(burst, T0)
    sent: list[int] = []
    for step in range(18_000):
        taken = delivery_pacing.take(
            bucket, rate=rate, burst=burst, now=T0 + timedelta(milliseconds=10 * step)
        )
        bucket = taken.bucket
        if taken.allowed:
            sent.append(step)
    return max(sum(1 for s in sent if start <= s < start + 6_000) for start in sent)


def test_the_providers_limits_hold_in_every_minute() -> None:
    assert _most_in_a_minute(PAGERDUTY.rate, PAGERDUTY.burst) <= 120  # events/min per routing key
    assert _most_in_a_minute(1.0, 1.0) <= 61  # Slack at its policy's 1 s: about 1 message/s per channel

"""A token bucket per (channel, target), as pure arithmetic; PostgreSQL holds the state between replicas.

Slack allows about one message a second per channel, PagerDuty about 120 events a minute per
routing key. Every replica takes its tokens from the same row, so N replicas together stay
within the provider's limit instead of N times it. A `Retry-After` answer pauses the target
for every replica in the same row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Refill arithmetic in floating point may land a hair below a whole token at the very instant the
# claim says the target is due; without this a sender would retry that instant in a tight loop.
_EPSILON = 1e-6


@dataclass(frozen=True)
class Bucket:
    tokens: float
    refilled_at: datetime
    paused_until: datetime | None = None


@dataclass(frozen=True)
class Take:
    """`allowed`: send now (the token is spent in `bucket`); else wait until `blocked_until`."""

    allowed: bool
    bucket: Bucket
    blocked_until: datetime  # when the next send may go: the next whole token, or the pause's end


def full(burst: float, now: datetime) -> Bucket:
    return Bucket(tokens=burst, refilled_at=now)


def take(bucket: Bucket, *, rate: float, burst: float, now: datetime) -> Take:
    """Refill for the time since the last take (at most `burst`), then spend a token if there is one."""
    elapsed = max(0.0, (now - bucket.refilled_at).total_seconds())
    tokens = min(burst, bucket.tokens + elapsed * rate)
    refilled_at = max(now, bucket.refilled_at)
    paused = bucket.paused_until if bucket.paused_until is not None and bucket.paused_until > now else None
    if paused is not None or tokens < 1.0 - _EPSILON:
        wait_for_token = now + timedelta(seconds=max(0.0, (1.0 - tokens) / rate))
        blocked = max(wait_for_token, paused) if paused is not None else wait_for_token
        return Take(False, Bucket(tokens, refilled_at, paused), blocked)
    left = max(0.0, tokens - 1.0)
    blocked = now if left >= 1.0 else now + timedelta(seconds=(1.0 - left) / rate)
    return Take(True, Bucket(left, refilled_at, None), blocked)


def pause(bucket: Bucket, until: datetime) -> Bucket:
    """The provider said `Retry-After`: nobody sends to this target before `until`."""
    current = bucket.paused_until
    return Bucket(bucket.tokens, bucket.refilled_at, until if current is None else max(current, until))

"""After a failed send: try again later (when, with jitter) or give up into a dead letter.

Pure, so the rule can be read and tested on its own: exponential backoff from the policy,
a provider's `Retry-After` when it gave one (never sooner, a little later so replicas do not
return in step), and a dead letter after `max_attempts` or `max_age`, or at once when trying
again cannot help (a 4xx, a refused address).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.domain.notification_policy import DeliveryPolicy


@dataclass(frozen=True)
class RetryLater:
    at: datetime
    pause_target_until: datetime | None  # Retry-After: the whole target waits, for every replica


@dataclass(frozen=True)
class GiveUp:
    reason: str


def decide(
    policy: DeliveryPolicy,
    *,
    attempts: int,
    created_at: datetime,
    now: datetime,
    retry: bool,
    retry_after: float | None,
    jitter: Callable[[float, float], float],
) -> RetryLater | GiveUp:
    """`attempts` counts the one that just failed; `jitter(a, b)` is a random factor in [a, b]."""
    if not retry:
        return GiveUp("the provider refused it; trying again cannot help")
    if attempts >= policy.max_attempts:
        return GiveUp(f"{attempts} attempts")
    if now - created_at >= policy.max_age:
        return GiveUp(f"older than {policy.max_age}")
    if retry_after is not None:
        delay = retry_after * jitter(1.0, 1.1)
        return RetryLater(now + timedelta(seconds=delay), now + timedelta(seconds=retry_after))
    base = policy.backoff_initial.total_seconds() * 2 ** (attempts - 1)
    delay = min(policy.backoff_max.total_seconds(), base) * jitter(0.5, 1.0)
    return RetryLater(now + timedelta(seconds=delay), None)

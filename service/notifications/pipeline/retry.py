"""Retry or dead-letter a failed send, by the rule in service/domain/delivery_retry.py."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

import asyncpg
import structlog

from service.domain.delivery_retry import GiveUp, RetryLater, decide
from service.domain.notification_policy import DeliveryPolicy
from service.notifications import store
from service.notifications.metrics import SENDS
from service.notifications.notifier import Notifier
from service.notifications.outcomes import DeliveryError
from service.notifications.pipeline.pacing import SharedPacing
from service.notifications.store import OutboxRow

log = structlog.get_logger(__name__)


def _jitter(low: float, high: float) -> float:
    return random.uniform(low, high)  # noqa: S311 - spreading retries, not a secret


class RetryStage:
    def __init__(
        self,
        policy: DeliveryPolicy,
        pacing: SharedPacing,
        jitter: Callable[[float, float], float] = _jitter,
    ) -> None:
        self._policy = policy
        self._pacing = pacing
        self._jitter = jitter

    async def __call__(
        self, conn: asyncpg.Connection, notifier: Notifier, head: OutboxRow, exc: DeliveryError, now: datetime
    ) -> RetryLater | GiveUp:
        attempts = head.attempts + 1
        decision = decide(
            self._policy,
            attempts=attempts,
            created_at=head.created_at,
            now=now,
            retry=exc.retry,
            retry_after=exc.retry_after,
            jitter=self._jitter,
        )
        if isinstance(decision, RetryLater):
            if decision.pause_target_until is not None:
                burst = notifier.pacing.burst if notifier.pacing is not None else 1.0
                await self._pacing.pause(head.channel, head.target, decision.pause_target_until, now, burst)
            await store.reschedule(conn, head.id, decision.at, str(exc))
            await notifier.after_retry(conn, head, decision.at)
            SENDS.labels(channel=head.channel, outcome="retry").inc()
            log.warning(
                "notification_retry",
                id=head.id,
                channel=head.channel,
                error=str(exc),
                attempts=attempts,
                retry_in_s=round((decision.at - now).total_seconds(), 2),
            )
            return decision
        await store.fail(conn, head.id, str(exc))
        SENDS.labels(channel=head.channel, outcome="dead").inc()
        log.error(
            "notification_dead",
            id=head.id,
            channel=head.channel,
            kind=head.kind,
            error=str(exc),
            attempts=attempts,
            why=decision.reason,
        )
        return decision

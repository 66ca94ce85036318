"""PagerDuty as a channel plug-in: one Events API v2 call per outbox row, paced per routing key."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from service.notifications.channels.pagerduty.delivery import PagerDutyDelivery
from service.notifications.notifier import Attempt, Outcome, Pacing, Plan
from service.notifications.payloads import PagerDutyAction, PagerDutyTrigger, decode, encode
from service.notifications.store import OutboxRow

NAME = "pagerduty"
# PagerDuty accepts about 120 events a minute per routing key: a burst of 12, then 1.8 a second,
# so no 60-second window holds more than 12 + 108 = 120.
PACING = Pacing(rate=1.8, burst=12.0)
_RECEIPT_KINDS = frozenset({"trigger", "acknowledge", "resolve"})
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class PagerDutyNotifier:
    def __init__(self, delivery: PagerDutyDelivery, pacing: Pacing | None = PACING) -> None:
        self._delivery = delivery
        self._pacing = pacing

    @property
    def name(self) -> str:
        return NAME

    @property
    def pacing(self) -> Pacing | None:
        return self._pacing

    def ready(self, target: str) -> bool:
        return self._delivery.routable(target)

    def hold_scope(self, target: str) -> str | None:
        return target

    def check_target(self, target: str) -> str | None:
        return check_target(target)

    def secrets(self) -> Sequence[str]:
        return self._delivery.secrets()

    async def plan(self, conn: asyncpg.Connection, head: OutboxRow, now: datetime) -> Plan:
        return Plan(batch=[head])

    async def send(self, attempt: Attempt) -> object:
        head = attempt.head
        kind = PagerDutyTrigger if head.kind == "trigger" else PagerDutyAction
        typed = decode(head.payload, kind)  # a row that does not fit fails here, before PagerDuty
        return await self._delivery.send(head.kind, head.target, encode(typed))

    def interpret(self, attempt: Attempt, answer: object) -> Outcome:
        return Outcome(receipt=attempt.head.kind in _RECEIPT_KINDS)

    async def after_retry(self, conn: asyncpg.Connection, head: OutboxRow, retry_at: datetime) -> None:
        return None

    async def close(self) -> None:
        self._delivery.close()


def check_target(target: str) -> str | None:
    if not _REF.match(target):
        return f"expected a routing-key reference name such as default, got {target!r}"
    return None

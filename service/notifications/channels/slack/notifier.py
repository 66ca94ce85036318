"""Slack as a channel plug-in: posts, in-place updates (coalesced), storm summaries and notices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from service.notifications import store
from service.notifications.channels.slack.delivery import SlackDelivery
from service.notifications.notifier import Attempt, Outcome, Pacing, Plan
from service.notifications.payloads import SlackMessage, StormSummary, decode
from service.notifications.store import OutboxRow

NAME = "slack"
# A storm's posts wait this long after their summary's retry; if the summary dies they go out alone.
_STORM_MEMBERS_AFTER = timedelta(seconds=1)


class SlackNotifier:
    def __init__(self, delivery: SlackDelivery, token: str | None, pacing: Pacing | None) -> None:
        self._delivery = delivery
        self._token = token
        self._pacing = pacing

    @property
    def name(self) -> str:
        return NAME

    @property
    def pacing(self) -> Pacing | None:
        return self._pacing

    def ready(self, target: str) -> bool:
        return self._delivery.configured

    def hold_scope(self, target: str) -> str | None:
        return None  # one bot token for every channel

    def check_target(self, target: str) -> str | None:
        return check_target(target)

    def secrets(self) -> Sequence[str]:
        return [self._token] if self._token else []

    async def plan(self, conn: asyncpg.Connection, head: OutboxRow, now: datetime) -> Plan:
        if head.kind in {"post", "update"}:
            return Plan(batch=[head, *await store.claim_followers(conn, head, now)])
        if head.kind == "storm_summary":
            members = await store.claim_storm_members(conn, decode(head.payload, StormSummary).storm_key)
            return Plan(batch=[head], members=members)
        return Plan(batch=[head])

    async def send(self, attempt: Attempt) -> object:
        head, batch = attempt.head, attempt.plan.batch
        if head.kind == "notice":
            await self._delivery.post_notice(head.target, head.payload)
            return "notice"
        if head.kind == "storm_summary":
            members = attempt.plan.members
            if members:
                await self._delivery.post_summary(
                    channel=head.target,
                    interval_seconds=decode(head.payload, StormSummary).interval_seconds,
                    members=[(m.incident_id or 0, decode(m.payload, SlackMessage).snapshot) for m in members],
                    now=attempt.now,
                )
            return "summary"
        assert head.incident_id is not None
        messages = [decode(row.payload, SlackMessage) for row in batch]
        return await self._delivery.post_or_update(
            attempt.conn,
            outbox_id=head.id,
            maybe_sent=attempt.maybe_sent,
            incident_id=head.incident_id,
            channel=head.target,
            snapshot=messages[-1].snapshot,
            changes=[line for message in messages for line in message.changes],
            now=attempt.now,
        )

    def interpret(self, attempt: Attempt, answer: object) -> Outcome:
        return Outcome(receipt=answer == "posted", coalesced=[m.id for m in attempt.plan.members])

    async def after_retry(self, conn: asyncpg.Connection, head: OutboxRow, retry_at: datetime) -> None:
        if head.kind == "storm_summary":
            key = decode(head.payload, StormSummary).storm_key
            await store.postpone_storm_members(conn, key, retry_at + _STORM_MEMBERS_AFTER)

    async def close(self) -> None:
        await self._delivery.close()


def check_target(target: str) -> str | None:
    name = target.strip()
    if not name or any(c.isspace() for c in name):
        return f"{target!r} is not a Slack channel name"
    return None

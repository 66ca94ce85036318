"""Send: note the attempt durably, call the channel's Notifier, and let it interpret the answer.

"About to call the provider" commits first, on a connection of its own, so that after a kill -9
mid-call the next attempt knows the message may already be out (`maybe_sent`) and the channel
can look before sending again.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import structlog

from service.adapters.postgres.database import Database
from service.notifications import store
from service.notifications.notifier import Attempt, Notifier, Outcome, Plan
from service.notifications.store import OutboxRow

log = structlog.get_logger(__name__)


class SendStage:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def __call__(
        self, conn: asyncpg.Connection, notifier: Notifier, head: OutboxRow, plan: Plan, now: datetime
    ) -> Outcome:
        maybe_sent = await self.note_attempt(conn, head, now)
        attempt = Attempt(head=head, plan=plan, conn=conn, now=now, maybe_sent=maybe_sent)
        return notifier.interpret(attempt, await notifier.send(attempt))

    async def note_attempt(self, conn: asyncpg.Connection, head: OutboxRow, now: datetime) -> bool:
        """True when an earlier call for this row started but its outcome never committed."""
        async with self._db.connection() as own:
            started = await store.record_attempt(own, head.id, now)
        maybe_sent = started - 1 > head.attempts
        if maybe_sent:
            # Counted as attempts in the sending transaction: once this one's outcome commits, the
            # crashed calls are accounted for; if this process dies too, the next one sees it again.
            await store.count_attempts(conn, head.id, started - 1)
            log.warning(
                "notification_maybe_sent_before",
                id=head.id,
                channel=head.channel,
                kind=head.kind,
                note="an earlier attempt's outcome was not recorded; sending again (PagerDuty dedups by key)",
            )
        return maybe_sent

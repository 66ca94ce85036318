"""Queue any email to an address through the outbox, inside the caller's transaction.

For other rooms' messages (the daily summary, reports): the row commits or rolls back with the
caller's change and is then delivered at least once, with the same retries, pacing, holds and
dead letters as every channel. `thread` (optional) groups messages into one conversation.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from service.notifications.channels.email.notifier import MESSAGE, NAME
from service.notifications.outbox import enqueue
from service.notifications.payloads import VERSION, EmailMessage


async def enqueue_email(
    conn: asyncpg.Connection,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    now: datetime,
    thread: str | None = None,
    incident_id: int | None = None,
    idempotency_key: str | None = None,
) -> int | None:
    """The row's id, or None when `idempotency_key` was queued before (a second replica's try)."""
    payload = EmailMessage(v=VERSION, subject=subject, text=text, html=html, thread=thread)
    return await enqueue(
        conn,
        incident_id=incident_id,
        channel=NAME,
        kind=MESSAGE,
        target=to,
        payload=payload,
        now=now,
        idempotency_key=idempotency_key,
    )

"""Writing notification intents into the outbox, inside the caller's transaction.

This is the contract between "who must be told" (incidents, escalation) and
"deliver it" (the sender): a row here is a promise that will be kept at least
once, because it commits or rolls back with the change that caused it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from service.notifications.payloads import Payload, encode

# A registered channel plug-in's name (service/notifications/channels/registry.py).
Channel = str


async def enqueue(
    conn: asyncpg.Connection,
    *,
    incident_id: int | None,
    channel: Channel,
    kind: str,
    target: str,
    payload: Payload | dict[str, Any],
    now: datetime,
    not_before: datetime | None = None,
    idempotency_key: str | None = None,
) -> int | None:
    """Queue one intent; returns its id, or None when `idempotency_key` was already queued.

    `target` names where it goes without holding a secret: a Slack channel, or a
    routing-key reference such as `default` that the sender resolves from policy
    and the environment at send time, so no key is ever stored in the database.
    """
    row_id: int | None = await conn.fetchval(
        """
        INSERT INTO notification_outbox
            (incident_id, channel, kind, target, payload, next_attempt_at, created_at, idempotency_key)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
        """,
        incident_id,
        channel,
        kind,
        target,
        encode(payload),
        not_before or now,
        now,
        idempotency_key,
    )
    if row_id is not None:
        # Wake idle senders in every replica; they also poll, so a lost NOTIFY only delays.
        await conn.execute("SELECT pg_notify('incidentd_outbox', $1)", str(row_id))
    return row_id


class Intent(msgspec.Struct, frozen=True, kw_only=True):
    """One row for `enqueue_many`."""

    incident_id: int | None
    channel: Channel
    kind: str
    target: str
    payload: Payload | dict[str, Any]
    not_before: datetime | None = None
    idempotency_key: str | None = None


async def enqueue_many(conn: asyncpg.Connection, intents: Sequence[Intent], now: datetime) -> int:
    """`enqueue` for many in one statement and one wake-up; returns how many were queued (a repeated
    idempotency key is skipped, as there)."""
    if not intents:
        return 0
    ids = await conn.fetch(
        """
        INSERT INTO notification_outbox
            (incident_id, channel, kind, target, payload, next_attempt_at, created_at, idempotency_key)
        SELECT i, c, k, t, p, coalesce(b, $9), $9, ik
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[],
                    $7::text[], $8::int[]) AS u(i, c, k, t, p, b, ik, n)
        ORDER BY n
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
        """,
        [i.incident_id for i in intents],
        [i.channel for i in intents],
        [i.kind for i in intents],
        [i.target for i in intents],
        [encode(i.payload) for i in intents],
        [i.not_before for i in intents],
        [i.idempotency_key for i in intents],
        list(range(len(intents))),
        now,
    )
    if ids:
        await conn.execute("SELECT pg_notify('incidentd_outbox', $1)", str(max(r["id"] for r in ids)))
    return len(ids)

"""The outbox over HTTP: what was (or will be) sent, and a retry button for dead letters.

Rows hold routing-key references and channel names, never secrets; errors were
redacted before they were stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.status_codes import HTTP_200_OK

from service.adapters.postgres.database import DATABASE, Database
from service.clock import Clock
from service.dependencies import Key
from service.domain.incidents import Incident
from service.http.auth import can_read, can_write
from service.incidents.details import DetailContributor
from service.incidents.service import Conflict
from service.notifications import store
from service.notifications.store import OutboxRow

NOTIFICATIONS_CLOCK: Key[Clock] = Key("notifications_clock")

STATUSES = ("pending", "held", "sent", "dead", "coalesced")


class NotificationView(msgspec.Struct):
    id: int
    incident_id: int | None
    channel: str
    kind: str
    target: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: OutboxRow) -> NotificationView:
        return cls(**{f: getattr(row, f) for f in cls.__struct_fields__})


class NotificationPage(msgspec.Struct):
    items: list[NotificationView]
    next_before: int | None


class NotificationController(Controller):
    path = "/api/v1/notifications"
    tags = ["notifications"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/", guards=[can_read])
    async def list_notifications(
        self,
        request: Request[Any, Any, Any],
        status: FromQuery[str | None] = None,
        incident_id: Annotated[int | None, QueryParameter(gt=0)] = None,
        before: Annotated[int | None, QueryParameter(gt=0)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> NotificationPage:
        """Newest first; filter by status (pending, held, sent, dead, coalesced) and incident."""
        if status is not None and status not in STATUSES:
            raise ValidationException(detail=f"status: unknown value {status!r}; use {', '.join(STATUSES)}")
        db = DATABASE.of(request)
        async with db.connection() as conn:
            rows = await store.search(
                conn, status=status, incident_id=incident_id, before_id=before, limit=limit + 1
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return NotificationPage(
            items=[NotificationView.of(r) for r in rows], next_before=rows[-1].id if more and rows else None
        )

    @post("/{notification_id:int}/retry", guards=[can_write], status_code=HTTP_200_OK)
    async def retry(
        self, request: Request[Any, Any, Any], notification_id: FromPath[int]
    ) -> NotificationView:
        """Send a dead letter again (after fixing what killed it); 409 unless it is dead."""
        try:
            row = await retry_dead_letter(
                DATABASE.of(request), NOTIFICATIONS_CLOCK.of(request), notification_id
            )
        except LookupError as exc:
            raise NotFoundException(detail=str(exc)) from None
        return NotificationView.of(row)


async def retry_dead_letter(
    db: Database, clock: Clock, notification_id: int, incident_id: int | None = None
) -> OutboxRow:
    """Put a dead letter back in the queue and wake the senders (the API's and the console's retry).

    LookupError when there is no such notification (for this incident); Conflict unless it is dead.
    """
    async with db.transaction() as conn:
        existing = await store.get(conn, notification_id)
        if existing is None or (incident_id is not None and existing.incident_id != incident_id):
            raise LookupError(f"notification {notification_id} not found")
        row = await store.retry_dead(conn, notification_id, clock())
        if row is None:
            raise Conflict(f"notification {notification_id} is {existing.status}; only dead ones retry")
        await conn.execute("SELECT pg_notify('incidentd_outbox', $1)", str(row.id))
    return row


def trail_contributor(db: Database) -> DetailContributor:
    """extras.notifications on an incident: where each message went and how it fared."""

    async def contribute(incident: Incident) -> list[dict[str, Any]]:
        async with db.connection() as conn:
            rows = await store.search(conn, status=None, incident_id=incident.id, before_id=None, limit=200)
        return [
            {
                "id": r.id,
                "channel": r.channel,
                "kind": r.kind,
                "target": r.target,
                "status": r.status,
                "attempts": r.attempts,
                "last_error": r.last_error,
                "created_at": r.created_at.isoformat(),
                "sent_at": r.sent_at.isoformat() if r.sent_at else None,
            }
            for r in reversed(rows)
        ]

    return contribute

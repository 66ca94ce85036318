"""SQL over action_items (migration 019); each function runs on the caller's connection.

`due_action_items` is the read other reports use (a daily summary's "follow-ups due").
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from service.domain.action_items import ActionItem, ItemStatus, ReminderStage, today
from service.domain.incidents import format_human_id

_COLUMNS = (
    "id, incident_id, title, owner, due_on, status, link, created_by, created_at, updated_at, closed_at"
)


def _item(row: asyncpg.Record) -> ActionItem:
    return ActionItem(
        id=row["id"],
        incident_id=row["incident_id"],
        human_id=format_human_id(row["incident_id"]),
        title=row["title"],
        owner=row["owner"],
        due_on=row["due_on"],
        status=ItemStatus(row["status"]),
        link=row["link"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        closed_at=row["closed_at"],
    )


async def insert(
    conn: asyncpg.Connection,
    *,
    incident_id: int,
    title: str,
    owner: str,
    due_on: date,
    link: str,
    created_by: str,
    at: datetime,
) -> ActionItem:
    row = await conn.fetchrow(
        f"INSERT INTO action_items (incident_id, title, owner, due_on, link, created_by, created_at,"
        f" updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {_COLUMNS}",
        incident_id, title, owner, due_on, link, created_by, at,
    )  # fmt: skip
    return _item(row)


async def get(conn: asyncpg.Connection, item_id: int, *, lock: bool = False) -> ActionItem | None:
    suffix = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM action_items WHERE id = $1{suffix}", item_id)
    return _item(row) if row is not None else None


async def for_incident(conn: asyncpg.Connection, incident_id: int) -> list[ActionItem]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM action_items WHERE incident_id = $1 ORDER BY id", incident_id
    )
    return [_item(r) for r in rows]


async def listing(
    conn: asyncpg.Connection, statuses: list[ItemStatus] | None, limit: int
) -> list[ActionItem]:
    """Across incidents, the soonest due first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM action_items WHERE ($1::text[] IS NULL OR status = ANY($1::text[]))"
        " ORDER BY due_on, id LIMIT $2",
        [s.value for s in statuses] if statuses else None,
        limit,
    )
    return [_item(r) for r in rows]


async def update(conn: asyncpg.Connection, item_id: int, changes: dict[str, Any], at: datetime) -> ActionItem:
    """Set the given columns (names come from our own code, never from a request)."""
    allowed = {"title", "owner", "due_on", "status", "link", "closed_at"}
    assert set(changes) <= allowed, set(changes) - allowed
    columns = list(changes)
    assignments = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(columns))
    # A new due day deserves its own reminders.
    rearm = ", due_reminded_at = NULL, overdue_reminded_at = NULL" if "due_on" in changes else ""
    row = await conn.fetchrow(
        f"UPDATE action_items SET updated_at = $2, {assignments}{rearm} WHERE id = $1 RETURNING {_COLUMNS}",
        item_id,
        at,
        *changes.values(),
    )
    return _item(row)


async def due_action_items(conn: asyncpg.Connection, now: datetime) -> list[ActionItem]:
    """Open items due today or earlier (UTC days), the most overdue first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM action_items WHERE status = 'open' AND due_on <= $1 ORDER BY due_on, id",
        today(now),
    )
    return [_item(r) for r in rows]


async def claim_reminders(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> list[tuple[ActionItem, ReminderStage]]:
    """Open items whose reminder is owed, locked and marked as reminded in the caller's transaction.

    Another replica skips the locked rows, and the marks commit with the events that post the
    reminders, so each reminder is queued once whoever dies when.
    """
    day = today(now)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, CASE WHEN due_on < $1 THEN 'overdue' ELSE 'due' END AS stage"
        " FROM action_items WHERE status = 'open' AND due_on <= $1"
        " AND ((due_on < $1 AND overdue_reminded_at IS NULL) OR (due_on = $1 AND due_reminded_at IS NULL))"
        " ORDER BY due_on, id LIMIT $2 FOR UPDATE SKIP LOCKED",
        day,
        limit,
    )
    claimed = [(_item(r), ReminderStage(r["stage"])) for r in rows]
    for item, stage in claimed:
        # An overdue reminder also stands for a due-day one that was never sent (service was down).
        column = "overdue_reminded_at = $2, due_reminded_at = coalesce(due_reminded_at, $2)"
        if stage is ReminderStage.DUE:
            column = "due_reminded_at = $2"
        await conn.execute(f"UPDATE action_items SET {column} WHERE id = $1", item.id, now)
    return claimed

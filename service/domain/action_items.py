"""Action items: the follow-ups an incident leaves behind, with an owner, a due day and a status.

Due days are calendar days in UTC. An item is *due* on its day and *overdue* from the day after;
each of the two reminders is sent once. Without a due day an item is due when the RCA must be
complete: 48 hours after the incident ended ("Post-Incident Review" of 002_b1ab8eb4e8f4fb2c.txt:
assign owners and due dates within 48 hours).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import msgspec

from service.domain.rca_templates import COMPLETE_DUE

TITLE_MAX = 500
OWNER_MAX = 200
LINK_MAX = 2000


class ItemStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    DROPPED = "dropped"


class ReminderStage(enum.StrEnum):
    DUE = "due"
    OVERDUE = "overdue"


class ActionItem(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    incident_id: int
    human_id: str
    title: str
    owner: str
    due_on: date
    status: ItemStatus
    link: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None

    @property
    def ref(self) -> str:
        return format_item_ref(self.id)


def format_item_ref(item_id: int) -> str:
    return f"AI-{item_id}"


def parse_item_ref(text: str) -> int:
    """`AI-12`, `ai-12`, `#12` or `12`; ValueError otherwise."""
    cleaned = text.strip().lstrip("#")
    if cleaned[:3].upper() == "AI-":
        cleaned = cleaned[3:]
    if not cleaned.isdigit() or not 0 < int(cleaned) < 2**63:
        raise ValueError(f"{text!r} is not an action item id (write AI-12 or 12)")
    return int(cleaned)


def today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def default_due(incident_ended: datetime) -> date:
    return today(incident_ended + COMPLETE_DUE)


def title_problem(title: str) -> str | None:
    if not title.strip():
        return "must not be empty"
    if len(title) > TITLE_MAX:
        return f"is {len(title)} characters; the limit is {TITLE_MAX}"
    if "\x00" in title:
        return "contains a NUL character"
    return None


def owner_problem(owner: str) -> str | None:
    if len(owner) > OWNER_MAX:
        return f"is {len(owner)} characters; the limit is {OWNER_MAX}"
    return None


def link_problem(link: str) -> str | None:
    """Only http(s) URLs: a link is shown as a link, so anything else could mislead or run script."""
    if not link:
        return None
    if len(link) > LINK_MAX:
        return f"is {len(link)} characters; the limit is {LINK_MAX}"
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in link for c in " <>()\"'"):
        return "must be an http(s) URL"
    return None


def stage(item: ActionItem, now: datetime) -> ReminderStage | None:
    """Which reminder an open item is at now (the caller knows which were already sent)."""
    if item.status is not ItemStatus.OPEN:
        return None
    day = today(now)
    if item.due_on < day:
        return ReminderStage.OVERDUE
    if item.due_on == day:
        return ReminderStage.DUE
    return None


class ItemLine(msgspec.Struct, frozen=True, kw_only=True):
    """An action item as the RCA shows it: plain text, escaped by the template layer."""

    ref: str
    title: str
    owner: str
    due: str
    status: str
    done: bool
    overdue: bool
    link: str


def item_line(item: ActionItem, now: datetime) -> ItemLine:
    return ItemLine(
        ref=item.ref,
        title=item.title,
        owner=item.owner,
        due=item.due_on.isoformat(),
        status=item.status.value,
        done=item.status is ItemStatus.DONE,
        overdue=stage(item, now) is ReminderStage.OVERDUE,
        link=item.link,
    )

"""When the daily summary is due, and which moments count as out of hours: pure, time-zone aware.

The summary goes out once a day at a local time (default 08:00 UTC, before the "Morning Checklist" of
000_ecc4e94453621508.txt). A replica that was down at that moment still sends it when it comes back,
up to `MAX_LATE` after; later than that a summary of "the last 24 hours" is more confusing than useful.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

MAX_LATE = timedelta(hours=6)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CHANNELS = ("email", "slack")


class DailySchedule(msgspec.Struct, frozen=True, kw_only=True):
    at: time = time(8, 0)
    zone: str = "UTC"
    recipients: tuple[str, ...] = ()
    channels: tuple[str, ...] = CHANNELS
    slack_channels: tuple[str, ...] = ("#alerts",)

    def due_at(self, slot: date) -> datetime:
        return datetime.combine(slot, self.at, tzinfo=ZoneInfo(self.zone))

    def slot_due(self, now: datetime) -> date | None:
        """The local date whose summary is due at `now`: its time has passed, by no more than MAX_LATE."""
        local_today = now.astimezone(ZoneInfo(self.zone)).date()
        for slot in (local_today, local_today - timedelta(days=1)):
            due = self.due_at(slot)
            if due <= now < due + MAX_LATE:
                return slot
        return None

    def next_due(self, now: datetime) -> datetime:
        local_today = now.astimezone(ZoneInfo(self.zone)).date()
        for offset in range(3):
            due = self.due_at(local_today + timedelta(days=offset))
            if due > now:
                return due
        return self.due_at(local_today + timedelta(days=3))


class BusinessHours(msgspec.Struct, frozen=True, kw_only=True):
    """Working hours; a page outside them is "out of hours" in the response report."""

    zone: str = "UTC"
    start: time = time(9, 0)
    end: time = time(18, 0)
    days: tuple[int, ...] = (1, 2, 3, 4, 5)  # ISO weekdays, Monday = 1

    def within(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.zone))
        return local.isoweekday() in self.days and self.start <= local.time() < self.end


class ReportPolicy(msgspec.Struct, frozen=True, kw_only=True):
    daily: DailySchedule = msgspec.field(default_factory=DailySchedule)
    hours: BusinessHours = msgspec.field(default_factory=BusinessHours)

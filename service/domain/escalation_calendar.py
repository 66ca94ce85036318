"""Business-hours arithmetic, so a P3 raised on Friday evening is not escalated to a manager on Saturday.

002_b1ab8eb4e8f4fb2c.txt says P2 is investigated "during business hours" and P3
goes to the next sprint; a deadline of "4h" for such a severity means four
working hours. Windows are computed in the calendar's own timezone, so DST shifts
move them the way a wall clock does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

_MAX_DAYS = 3 * 366  # a calendar whose every day is a holiday must not loop forever


class BusinessCalendar(msgspec.Struct, frozen=True, kw_only=True):
    timezone: str
    weekdays: frozenset[int]  # 0 = Monday
    start: time
    end: time
    holidays: frozenset[date] = frozenset()

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.weekdays or day in self.holidays:
            return None
        zone = ZoneInfo(self.timezone)
        opens = datetime.combine(day, self.start, tzinfo=zone).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=zone).astimezone(UTC)
        return opens, closes

    def add(self, moment: datetime, delta: timedelta) -> datetime:
        """The instant when `delta` of business time has passed after `moment`."""
        current = moment.astimezone(UTC)
        if delta <= timedelta(0):
            return current
        remaining = delta
        day = current.astimezone(ZoneInfo(self.timezone)).date()
        for _ in range(_MAX_DAYS):
            window = self._window(day)
            day += timedelta(days=1)
            if window is None:
                continue
            opens, closes = window
            if current >= closes:
                continue
            current = max(current, opens)
            available = closes - current
            if remaining <= available:
                return current + remaining
            remaining -= available
            current = closes
        raise ValueError("business calendar has no working time in the next three years")

    def is_open(self, moment: datetime) -> bool:
        local_day = moment.astimezone(ZoneInfo(self.timezone)).date()
        window = self._window(local_day)
        return window is not None and window[0] <= moment < window[1]

"""Alertmanager's `time_intervals` (times, weekdays, days_of_month, months, years, location): pure.

An instant is inside an interval when, read as wall-clock time in the interval's IANA
zone, every field given matches; a field left out matches everything. "The first Sunday
of the month" is `weekdays: [sunday]` with `days_of_month: ["1:7"]`, as in Alertmanager.
Wall-clock reading is what makes DST right: 02:00-04:00 Europe/Berlin is two hours on a
normal night, one hour on the spring-forward night (02:00-03:00 does not exist) and three
on the fall-back night.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = tuple(calendar.month_name[i].lower() for i in range(1, 13))
_HORIZON_DAYS = 800  # how far `next_start` looks (yearly windows, leap days)
_MINUTE = timedelta(minutes=1)


class IntervalError(ValueError):
    """A field that cannot be read; the message starts with the field."""


class Range(msgspec.Struct, frozen=True):
    low: int
    high: int

    def __contains__(self, value: int) -> bool:
        return self.low <= value <= self.high


class TimeRange(msgspec.Struct, frozen=True):
    start_minute: int
    end_minute: int  # exclusive; 1440 is midnight at the end of the day


class TimeInterval(msgspec.Struct, frozen=True, kw_only=True):
    times: tuple[TimeRange, ...] = ()
    weekdays: tuple[Range, ...] = ()  # 0 = Monday
    days_of_month: tuple[Range, ...] = ()  # negative counts from the month's end (-1 = last day)
    months: tuple[Range, ...] = ()  # 1..12
    years: tuple[Range, ...] = ()
    location: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.location)

    def _day_matches(self, day: date) -> bool:
        if self.weekdays and not any(day.weekday() in r for r in self.weekdays):
            return False
        if self.days_of_month:
            length = calendar.monthrange(day.year, day.month)[1]
            if not any(_day_in(r, day.day, length) for r in self.days_of_month):
                return False
        if self.months and not any(day.month in r for r in self.months):
            return False
        return not (self.years and not any(day.year in r for r in self.years))

    def contains(self, instant: datetime) -> bool:
        local = instant.astimezone(self.zone)
        if not self._day_matches(local.date()):
            return False
        if not self.times:
            return True
        minute = local.hour * 60 + local.minute
        return any(t.start_minute <= minute < t.end_minute for t in self.times)

    def next_start(self, after: datetime) -> datetime | None:
        """The first instant after `after` at which the interval begins. A start time that does not
        exist that day (02:00 on a spring-forward night) begins at the first wall-clock time after it."""
        zone = self.zone
        first = after.astimezone(zone).date()
        for offset in range(_HORIZON_DAYS):
            day = first + timedelta(days=offset)
            if not self._day_matches(day):
                continue
            starts = [t.start_minute for t in self.times] or [0]
            for minute in sorted(starts):
                local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
                instant = local.astimezone(UTC)
                if instant > after and self.contains(instant) and not self.contains(instant - _MINUTE):
                    return instant
        return None

    def end_after(self, instant: datetime) -> datetime:
        """When the stretch containing `instant` ends (minute by minute past the stretch is too slow,
        so walk range ends and days)."""
        zone = self.zone
        probe = instant
        for _ in range(_HORIZON_DAYS):
            local = probe.astimezone(zone)
            minute = local.hour * 60 + local.minute
            ends = [t.end_minute for t in self.times if t.start_minute <= minute < t.end_minute] or [1440]
            end = max(ends)
            midnight = datetime.combine(local.date(), time(0), tzinfo=zone)
            candidate = (
                (midnight + timedelta(days=1))
                if end >= 1440
                else midnight.replace(hour=end // 60, minute=end % 60)
            )
            candidate = candidate.astimezone(zone)
            if not self.contains(candidate):
                return candidate
            probe = candidate
        return probe


def _day_in(r: Range, day: int, length: int) -> bool:
    low = r.low if r.low > 0 else length + r.low + 1
    high = r.high if r.high > 0 else length + r.high + 1
    return low <= day <= high


def _clock(field: str, text: str) -> int:
    try:
        hours, minutes = text.split(":")
        h, m = int(hours), int(minutes)
    except ValueError:
        raise IntervalError(f"{field}: {text!r} is not HH:MM") from None
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise IntervalError(f"{field}: {text!r} is not a time of day (00:00..24:00)")
    return h * 60 + m


def _named(field: str, text: str, names: Sequence[str], base: int) -> int:
    word = text.strip().lower()
    if word in names:
        return names.index(word) + base
    if word.lstrip("-").isdigit():
        return int(word)
    raise IntervalError(f"{field}: {text!r} is not one of {', '.join(names)}")


def _ranges(field: str, items: Sequence[str | int], parse: object, low: int, high: int) -> tuple[Range, ...]:
    found: list[Range] = []
    for item in items:
        text = str(item)
        head, sep, tail = text.partition(":") if not text.startswith("-") else _split_negative(text)
        first = parse(field, head) if callable(parse) else int(head)
        last = (parse(field, tail) if callable(parse) else int(tail)) if sep else first
        for value in (first, last):
            if not (low <= abs(value) <= high) or (value < 0 and field != "days_of_month"):
                raise IntervalError(f"{field}: {text!r} is outside {low}..{high}")
        if first > last and (first > 0) == (last > 0):
            raise IntervalError(f"{field}: {text!r} has its start after its end")
        found.append(Range(first, last))
    return tuple(found)


def _split_negative(text: str) -> tuple[str, str, str]:
    head, sep, tail = text[1:].partition(":")
    return "-" + head, sep, tail


def _int_field(field: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise IntervalError(f"{field}: {text!r} is not a number") from None


def build_interval(
    *,
    times: Sequence[tuple[str, str]] = (),
    weekdays: Sequence[str] = (),
    days_of_month: Sequence[str | int] = (),
    months: Sequence[str | int] = (),
    years: Sequence[str | int] = (),
    location: str = "UTC",
) -> TimeInterval:
    """From the file's words to an interval; IntervalError names the field at fault."""
    try:
        ZoneInfo(location)
    except (ZoneInfoNotFoundError, ValueError):
        raise IntervalError(f"location: {location!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    ranges = []
    for start, end in times:
        low, high = _clock("times.start_time", start), _clock("times.end_time", end)
        if high <= low:
            raise IntervalError(f"times: {start}-{end} ends before it starts")
        ranges.append(TimeRange(low, high))

    def weekday(field: str, text: str) -> int:
        return _named(field, text, WEEKDAYS, 0)

    def month(field: str, text: str) -> int:
        return _named(field, text, MONTHS, 1)

    return TimeInterval(
        times=tuple(ranges),
        weekdays=_ranges("weekdays", weekdays, weekday, 0, 6),
        days_of_month=_ranges("days_of_month", days_of_month, _int_field, 1, 31),
        months=_ranges("months", months, month, 1, 12),
        years=_ranges("years", years, _int_field, 1, 9999),
        location=location,
    )

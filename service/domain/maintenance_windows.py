"""Maintenance windows: recurring ones from policy, one-off ones from people; which are open, which come next.

Pure. During a window, alerts its matchers select behave as silenced (no matchers: every alert).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec

from service.domain.mute_verdicts import ActiveWindow
from service.domain.silence_matchers import Matcher, matches_all
from service.domain.time_intervals import TimeInterval


class RecurringWindow(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    intervals: tuple[TimeInterval, ...]
    matchers: tuple[Matcher, ...] = ()
    owner: str
    description: str = ""
    file: str = ""
    line: int = 0

    def open_at(self, now: datetime) -> bool:
        return any(i.contains(now) for i in self.intervals)

    def ends_at(self, now: datetime) -> datetime | None:
        ends = [i.end_after(now) for i in self.intervals if i.contains(now)]
        return max(ends) if ends else None

    def next_start(self, now: datetime) -> datetime | None:
        starts = [s for s in (i.next_start(now) for i in self.intervals) if s is not None]
        return min(starts) if starts else None

    def applies_to(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)


class OneOffWindow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    owner: str


class WindowView(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: str  # recurring | one-off
    owner: str
    matchers: list[str]
    starts_at: datetime | None
    ends_at: datetime | None
    id: str | None = None


def open_windows(
    recurring: Sequence[RecurringWindow], one_off: Sequence[OneOffWindow], now: datetime
) -> list[ActiveWindow]:
    found = [
        ActiveWindow(name=w.name, matchers=w.matchers, owner=w.owner, ends_at=w.ends_at(now))
        for w in recurring
        if w.open_at(now)
    ]
    found.extend(
        ActiveWindow(name=w.name, matchers=w.matchers, owner=w.owner, ends_at=w.ends_at)
        for w in one_off
        if w.starts_at <= now < w.ends_at
    )
    return found


def next_window_change(
    recurring: Sequence[RecurringWindow],
    one_off: Sequence[OneOffWindow],
    open_now: Sequence[ActiveWindow],
    now: datetime,
) -> datetime | None:
    """The first instant after `now` at which a window opens or closes: a verdict computed from the
    windows open at `now` holds until then."""
    moments = [w.ends_at for w in open_now if w.ends_at is not None]
    moments.extend(s for s in (w.next_start(now) for w in recurring) if s is not None)
    moments.extend(w.starts_at for w in one_off if w.starts_at > now)
    later = [m for m in moments if m > now]
    return min(later) if later else None


def schedule(
    recurring: Sequence[RecurringWindow], one_off: Sequence[OneOffWindow], now: datetime
) -> tuple[list[WindowView], list[WindowView]]:
    """(open now, coming next): what GET /api/v1/maintenance shows."""
    active: list[WindowView] = []
    upcoming: list[WindowView] = []
    for w in recurring:
        shown = [str(m) for m in w.matchers]
        if w.open_at(now):
            active.append(
                WindowView(
                    name=w.name,
                    kind="recurring",
                    owner=w.owner,
                    matchers=shown,
                    starts_at=None,
                    ends_at=w.ends_at(now),
                )
            )
        start = w.next_start(now)
        if start is not None:
            later = next((i.end_after(start) for i in w.intervals if i.contains(start)), None)
            upcoming.append(
                WindowView(
                    name=w.name,
                    kind="recurring",
                    owner=w.owner,
                    matchers=shown,
                    starts_at=start,
                    ends_at=later,
                )
            )
    for o in one_off:
        view = WindowView(
            name=o.name,
            kind="one-off",
            owner=o.owner,
            matchers=[str(m) for m in o.matchers],
            starts_at=o.starts_at,
            ends_at=o.ends_at,
            id=o.id,
        )
        if o.starts_at <= now < o.ends_at:
            active.append(view)
        elif o.starts_at > now:
            upcoming.append(view)
    upcoming.sort(key=lambda v: v.starts_at or now)
    return active, upcoming

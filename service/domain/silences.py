"""A silence and its state at an instant, as Alertmanager defines them: pure.

pending before `starts_at`, active until `ends_at`, expired after. Expiring early
moves `ends_at` to now (recording who and when), which is also how Alertmanager
answers `DELETE /silence/{id}`: the silence stays listed, as expired.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import msgspec

from service.domain.silence_matchers import Matcher, matches_all


class SilenceState(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


class Silence(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    updated_at: datetime
    expired_by: str | None = None

    def state(self, now: datetime) -> SilenceState:
        if now >= self.ends_at:
            return SilenceState.EXPIRED
        if now < self.starts_at:
            return SilenceState.PENDING
        return SilenceState.ACTIVE

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.state(now) is SilenceState.ACTIVE and matches_all(self.matchers, labels)


def silenced_by(silences: Iterable[Silence], labels: Mapping[str, str], now: datetime) -> list[str]:
    """Ids of the active silences that match, sorted, as `status.silencedBy` lists them."""
    return sorted(s.id for s in silences if s.mutes(labels, now))


def check_new(
    matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, now: datetime
) -> str | None:
    """Why a silence cannot be stored (the field named first), or None."""
    if not matchers:
        return "matchers: at least one matcher is required"
    if ends_at <= starts_at:
        return "endsAt: must be after startsAt"
    if ends_at <= now:
        return "endsAt: is in the past"
    if all(_matches_empty(m) for m in matchers):
        return "matchers: at least one matcher must not match the empty string (it would silence everything)"
    return None


def _matches_empty(m: Matcher) -> bool:
    return m.matches({})

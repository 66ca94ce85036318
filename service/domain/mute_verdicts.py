"""Everything that can mute an alert at one instant, and the one verdict it gives: pure.

The snapshot is loaded from PostgreSQL (service/silences/snapshot.py) so every replica
judges an alert the same way; silences are looked up through an index (silence_index.py),
windows and inhibit rules, being few, are tried in turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property

import msgspec

from service.domain.inhibition import InhibitRule, SourceAlert, inhibited_by
from service.domain.silence_index import SilenceIndex
from service.domain.silence_matchers import Matcher, matches_all
from service.domain.silences import Silence, SilenceState


class ActiveWindow(msgspec.Struct, frozen=True, kw_only=True):
    """A maintenance window open now (recurring from policy, or one-off)."""

    name: str
    matchers: tuple[Matcher, ...]
    owner: str
    ends_at: datetime | None = None


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    windows: tuple[str, ...] = ()

    @property
    def muted(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by or self.windows)

    def reasons(self) -> list[str]:
        return [
            *(f"silence {s}" for s in self.silenced_by),
            *(f"maintenance window {w}" for w in self.windows),
            *(f"inhibited by {i}" for i in self.inhibited_by),
        ]


NOT_MUTED = Verdict()


class MuteSnapshot(msgspec.Struct, frozen=True, kw_only=True, dict=True):
    """`silences` may hold ones that start or end later: each is judged at `at`, so a snapshot stays
    exact when it is reused a moment later (see `valid_until`)."""

    at: datetime
    silences: tuple[Silence, ...] = ()
    windows: tuple[ActiveWindow, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()
    sources: tuple[SourceAlert, ...] = ()
    valid_until: datetime | None = None  # the first instant a window opens or closes after loading
    generation: int = 0  # what the database said had changed (silences, windows) when it was loaded

    @cached_property
    def silence_index(self) -> SilenceIndex:
        return SilenceIndex(self.silences)

    def at_instant(self, now: datetime) -> MuteSnapshot:
        """The same snapshot judged at `now`, sharing the index (built once per load, not per batch)."""
        if now == self.at:
            return self
        moved = msgspec.structs.replace(self, at=now)
        moved.__dict__["silence_index"] = self.silence_index
        return moved

    def verdict(self, labels: Mapping[str, str], alert_id: str = "") -> Verdict:
        silenced = self.silence_index.silenced_by(labels, self.at) if self.silences else []
        windows = sorted(w.name for w in self.windows if matches_all(w.matchers, labels))
        inhibited = inhibited_by(self.inhibit_rules, self.sources, alert_id, labels) if self.sources else []
        if not (silenced or windows or inhibited):
            return NOT_MUTED
        return Verdict(silenced_by=tuple(silenced), inhibited_by=tuple(inhibited), windows=tuple(windows))

    def adding_sources(self, sources: Sequence[SourceAlert]) -> MuteSnapshot:
        known = {s.id for s in self.sources}
        extra = tuple(s for s in sources if s.id not in known)
        if not extra:
            return self
        added = msgspec.structs.replace(self, sources=self.sources + extra)
        added.__dict__["silence_index"] = self.silence_index
        return added

    def digest(self) -> tuple[object, ...]:
        """Changes whenever a verdict could: what the sweeper compares to know it must look again."""
        return (
            tuple(sorted(s.id for s in self.silences if s.state(self.at) is SilenceState.ACTIVE)),
            tuple(sorted(w.name for w in self.windows)),
            tuple(sorted(s.id for s in self.sources)),
        )

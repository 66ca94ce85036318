"""Everything that can mute an alert at one instant, and the one verdict it gives: pure.

The snapshot is loaded from PostgreSQL (service/silences/snapshot.py) so every replica
judges an alert the same way; judging is a loop over what is active now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property

import msgspec

from service.domain.inhibition import InhibitRule, SourceAlert, inhibited_by
from service.domain.silence_matchers import Matcher, Op, matches_all
from service.domain.silences import Silence, silenced_by


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
    at: datetime
    silences: tuple[Silence, ...] = ()
    windows: tuple[ActiveWindow, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()
    sources: tuple[SourceAlert, ...] = ()

    @cached_property
    def _silence_index(self) -> tuple[dict[tuple[str, str], list[Silence]], list[Silence]]:
        """Silences by one of their equality matchers, so an alert is checked against the few that could
        match it, not all of them (10,000 silences, 100,000 alerts); the rest are checked always."""
        index: dict[tuple[str, str], list[Silence]] = {}
        rest: list[Silence] = []
        for silence in self.silences:
            key = next(((m.name, m.value) for m in silence.matchers if m.op is Op.EQUAL and m.value), None)
            if key is None:
                rest.append(silence)
            else:
                index.setdefault(key, []).append(silence)
        return index, rest

    def _candidates(self, labels: Mapping[str, str]) -> list[Silence]:
        index, rest = self._silence_index
        found = list(rest)
        for item in labels.items():
            found.extend(index.get(item, ()))
        return found

    def verdict(self, labels: Mapping[str, str], alert_id: str = "") -> Verdict:
        silenced = silenced_by(self._candidates(labels), labels, self.at) if self.silences else []
        windows = sorted(w.name for w in self.windows if matches_all(w.matchers, labels))
        inhibited = inhibited_by(self.inhibit_rules, self.sources, alert_id, labels) if self.sources else []
        if not (silenced or windows or inhibited):
            return NOT_MUTED
        return Verdict(silenced_by=tuple(silenced), inhibited_by=tuple(inhibited), windows=tuple(windows))

    def adding_sources(self, sources: Sequence[SourceAlert]) -> MuteSnapshot:
        known = {s.id for s in self.sources}
        extra = tuple(s for s in sources if s.id not in known)
        return msgspec.structs.replace(self, sources=self.sources + extra) if extra else self

    def digest(self) -> tuple[object, ...]:
        """Changes whenever a verdict could: what the sweeper compares to know it must look again."""
        return (
            tuple(sorted(s.id for s in self.silences)),
            tuple(sorted(w.name for w in self.windows)),
            tuple(sorted(s.id for s in self.sources)),
        )

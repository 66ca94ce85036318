"""Which silences can match an alert, found without trying them all: pure.

10,000 silences against 100,000 alerts is a billion matcher checks when every silence is
tried on every alert. A silence matches only alerts that pass each of its matchers, so
one matcher that no alert outside a small set can pass is enough to file it under:

- `name="value"` (non-empty): only alerts carrying exactly that value;
- `name=~"a|b|c"` of plain literals: only alerts carrying one of them (the regex is anchored,
  so it is a set of values);
- any other matcher that cannot match the empty string (`name=~".+"`, `name!=""`): only
  alerts carrying the label at all, since a missing label is the empty string.

A silence with none of these (only `!=`/`!~` of non-empty values, or regexes that match
the empty string) is tried on every alert. Each candidate is then judged by its full
matchers, so the verdict is exactly the naive one (`silenced_by` over all silences).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from service.domain.silence_matchers import Matcher, Op
from service.domain.silences import Silence

_META = frozenset(".^$*+?()[]{}|\\")


def literal_values(m: Matcher) -> tuple[str, ...] | None:
    """The only values `m` can match, when they can be listed (none of them empty); else None."""
    if m.op is Op.EQUAL:
        return (m.value,) if m.value else None
    if m.op is not Op.REGEX:
        return None
    parts = m.value.split("|")
    if any(not part or _META.intersection(part) for part in parts):
        return None
    return tuple(dict.fromkeys(parts))


class _Filed:
    __slots__ = ("by_name", "by_value", "everywhere")

    def __init__(self) -> None:
        self.by_value: dict[tuple[str, str], list[Silence]] = {}
        self.by_name: dict[str, list[Silence]] = {}
        self.everywhere: list[Silence] = []


def _file(silence: Silence, filed: _Filed) -> None:
    best: tuple[str, ...] | None = None
    best_name = ""
    for m in silence.matchers:
        values = literal_values(m)
        if values is not None and (best is None or len(values) < len(best)):
            best, best_name = values, m.name
    if best is not None:
        for value in best:
            filed.by_value.setdefault((best_name, value), []).append(silence)
        return
    carried = next((m.name for m in silence.matchers if not m.matches({})), None)
    if carried is not None:
        filed.by_name.setdefault(carried, []).append(silence)
    else:
        filed.everywhere.append(silence)


class SilenceIndex:
    """Built once per loaded set of silences; `silenced_by` answers like domain.silences.silenced_by."""

    def __init__(self, silences: Iterable[Silence]) -> None:
        self._filed = _Filed()
        self.size = 0
        for silence in silences:
            _file(silence, self._filed)
            self.size += 1

    def candidates(self, labels: Mapping[str, str]) -> list[Silence]:
        filed = self._filed
        found = list(filed.everywhere)
        by_value, by_name = filed.by_value, filed.by_name
        for item in labels.items():
            hit = by_value.get(item)
            if hit:
                found.extend(hit)
            if by_name:
                named = by_name.get(item[0])
                if named:
                    found.extend(named)
        return found

    def silenced_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """Ids of the active silences that match, sorted (each silence is filed under one key only)."""
        if not self.size:
            return []
        return sorted(s.id for s in self.candidates(labels) if s.mutes(labels, now))

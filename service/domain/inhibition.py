"""Alertmanager's `inhibit_rules`: a firing source alert mutes matching target alerts. Pure.

A target is inhibited when some firing alert matches `source_matchers`, the target matches
`target_matchers`, and both carry the same values for every label in `equal` (a label
missing on both counts as equal). An alert never inhibits itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from service.domain.silence_matchers import Matcher, matches_all


class InhibitRule(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    file: str = ""
    line: int = 0

    def is_source(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.source_matchers, labels)


class SourceAlert(msgspec.Struct, frozen=True):
    """A firing alert that can inhibit others; `id` is what `inhibitedBy` lists (its fingerprint)."""

    id: str
    labels: dict[str, str]


def inhibited_by(
    rules: Sequence[InhibitRule], sources: Sequence[SourceAlert], target_id: str, labels: Mapping[str, str]
) -> list[str]:
    found: set[str] = set()
    for rule in rules:
        if not matches_all(rule.target_matchers, labels):
            continue
        for source in sources:
            if source.id == target_id or not rule.is_source(source.labels):
                continue
            if all(source.labels.get(n, "") == labels.get(n, "") for n in rule.equal):
                found.add(source.id)
    return sorted(found)

"""How a round of due rules is cut into transactions, and what a process may keep between rounds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.alerting.value_source import SeriesRows, Work
from service.domain.alerts import AlertState
from service.domain.rules import Comparison, Rule

BATCH_RULES = 500  # rules per transaction
BATCH_SERIES = 50_000  # a rule with more series than this goes alone
VALUE_REFRESH_SECONDS = 30.0  # a still-breaching series' stored value is at most this old (or one interval)


def refresh_every(rule: Rule) -> int:
    return max(1, int(VALUE_REFRESH_SECONDS // max(rule.interval.total_seconds(), 1.0)))


def worst_value(rule: Rule, values: SeriesRows | None) -> float | None:
    """The value furthest towards breaching among the rule's series, for the rules listing."""
    numbers = [value for _, value in values or () if value == value]  # noqa: PLR0124 (NaN is not)
    if not numbers:
        return None
    return max(numbers) if rule.comparison is Comparison.ABOVE else min(numbers)


def batches(work: Sequence[Work]) -> list[list[Work]]:
    cut: list[list[Work]] = []
    current: list[Work] = []
    series = 0
    for item in work:
        size = len(item[1] or ())
        if current and (len(current) >= BATCH_RULES or series + size > BATCH_SERIES):
            cut.append(current)
            current, series = [], 0
        current.append(item)
        series += size
    if current:
        cut.append(current)
    return cut


@dataclass(frozen=True)
class CachedStates:
    """What this process stored for a rule at `slot`. Valid only while the database says this process
    wrote that slot last: another replica evaluating in between makes it stale, and it is reloaded."""

    rule: Rule
    slot: int
    writer: str
    states: dict[str, AlertState]
    ids: dict[str, int]
    written: dict[str, float | None]  # the value each row holds, which may be older than `states`

    def valid_after(self, previous_slot: int | None, previous_writer: str | None, writer: str) -> bool:
        return previous_slot == self.slot and previous_writer == writer == self.writer

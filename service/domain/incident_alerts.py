"""Which alerts an incident holds now, which is worst, and how bad each one got, from its timeline.

The rules engine writes one event per change of a group (`declared`, `attached`,
`alert_level_changed`, `alert_cleared`), each carrying the rule, its value and the
level it breaches. Messages, PagerDuty and the RCA all read the incident through
this one view, so the headline always follows the worst alert firing now rather
than the first reading, and "fired again" is said only of a rule that had cleared.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from service.domain.incidents import TimelineEvent
from service.domain.severity import Severity

_FIRING_KINDS = frozenset({"declared", "attached", "severity_raised", "alert_level_changed"})
_LEVEL_RANK = {"critical": 2, "warning": 1}
# What one reading says; never carried over from an earlier one (a stale "5%" beside a new value).
_READING_KEYS = frozenset({"value", "value_text", "level", "summary", "threshold_text"})


class AlertReading(msgspec.Struct, frozen=True, kw_only=True):
    """One rule's latest reading on the incident, and its worst one."""

    rule: str
    details: dict[str, Any]
    at: datetime
    first_at: datetime
    firing: bool
    peak_value: float | None
    peak_text: str
    peak_threshold_text: str
    peak_level: str
    times_fired: int
    cleared_at: datetime | None = None

    @property
    def level(self) -> str:
        return str(self.details.get("level") or "")

    @property
    def severity(self) -> Severity | None:
        try:
            return Severity.parse(str(self.details.get("severity") or ""))
        except ValueError:
            return None

    def rank(self) -> tuple[int, int, int]:
        """Firing before cleared, critical before warning, then the worse severity."""
        severity = self.severity
        return (
            int(self.firing),
            _LEVEL_RANK.get(self.level, 0),
            -(int(severity) if severity is not None else 9),
        )

    def badness(self) -> tuple[int, int, int, float]:
        """`rank`, then the newest reading."""
        return (*self.rank(), self.at.timestamp())


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _plain(value: object) -> str:
    number = _number(value)
    return f"{number:g}" if number is not None else ""


def _worse(details: dict[str, Any], value: float, peak: float | None) -> bool:
    if peak is None:
        return True
    return value < peak if details.get("comparison") == "below" else value > peak


def readings(events: Iterable[TimelineEvent]) -> dict[str, AlertReading]:
    """Every rule the incident has heard from, by rule name, in the order they first fired."""
    found: dict[str, AlertReading] = {}
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        rule = event.data.get("rule")
        if not isinstance(rule, str) or not rule:
            continue
        if event.kind == "severity_raised" and rule in found and found[rule].at == event.at:
            continue  # the same reading as the `attached` event written with it
        old = found.get(rule)
        if event.kind in _FIRING_KINDS:
            # A reading keeps what earlier ones said (runbook, threshold) unless it says otherwise.
            merged = {
                **(old.details if old else {}),
                **{k: v for k, v in event.data.items() if v is not None},
            }
            details = {
                **merged,
                "severity": event.data.get("severity") or _severity(event) or merged.get("severity"),
            }
            value = _number(details.get("value"))
            peak = old.peak_value if old else None
            peak_text = old.peak_text if old else ""
            peak_threshold = old.peak_threshold_text if old else ""
            peak_level = old.peak_level if old else ""
            if value is not None and _worse(details, value, peak):
                peak, peak_text = value, str(details.get("value_text") or f"{value:g}")
                peak_threshold = str(details.get("threshold_text") or _plain(details.get("threshold")))
                peak_level = str(details.get("level") or "")
            fired_again = old is None or (not old.firing and event.kind != "alert_level_changed")
            found[rule] = AlertReading(
                rule=rule,
                details=details,
                at=event.at,
                first_at=old.first_at if old else event.at,
                firing=True,
                peak_value=peak,
                peak_text=peak_text,
                peak_threshold_text=peak_threshold,
                peak_level=peak_level,
                times_fired=(old.times_fired if old else 0) + int(fired_again),
            )
        elif event.kind == "alert_cleared" and old is not None:
            found[rule] = msgspec.structs.replace(
                old, firing=False, cleared_at=event.at, details={**old.details, **_cleared(event.data)}
            )
    return found


def _severity(event: TimelineEvent) -> str:
    return str(event.data.get("to") or "") if event.kind == "severity_raised" else ""


def _cleared(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("value", "value_text") if data.get(k) is not None}


def worst_firing(found: dict[str, AlertReading]) -> AlertReading | None:
    firing = [r for r in found.values() if r.firing]
    return max(firing, key=AlertReading.badness) if firing else None


def worst(found: dict[str, AlertReading]) -> AlertReading | None:
    """The alert to headline: the worst one firing now, else the one that was worst before clearing."""
    if not found:
        return None
    return max(found.values(), key=AlertReading.badness)

"""Who is told, and how long each level gets to answer, as loaded from rules/policy/escalation.yaml.

The numbers come from the seeds: acknowledgement deadlines per severity from
002_b1ab8eb4e8f4fb2c.txt ("Severity Levels"), the four levels and their response
times from 004_2522b3a81675c108.txt ("Escalation Matrix"). Keeping them as data
lets a team tighten its own ladder without a release.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import msgspec

from service.domain.escalation_calendar import BusinessCalendar
from service.domain.severity import Severity


class Targets(msgspec.Struct, frozen=True, kw_only=True):
    """Where one level is reached; PagerDuty entries are routing-key refs the notifications layer resolves."""

    pagerduty: tuple[str, ...] = ()
    slack_channels: tuple[str, ...] = ()
    slack_users: tuple[str, ...] = ()
    slack_usergroups: tuple[str, ...] = ()
    # Any other channel plug-in by name, with its targets: {"email": ("oncall@example.com",)}.
    channels: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)

    def without_paging(self) -> Targets:
        return msgspec.structs.replace(self, pagerduty=())

    def as_data(self) -> dict[str, list[str]]:
        """Keyed by channel plug-in (and Slack mention kind): what an `escalated` event records."""
        return {
            "pagerduty": list(self.pagerduty),
            "slack_channels": list(self.slack_channels),
            "slack_users": list(self.slack_users),
            "slack_usergroups": list(self.slack_usergroups),
            **{channel: list(targets) for channel, targets in self.channels.items()},
        }


class Level(msgspec.Struct, frozen=True, kw_only=True):
    """One rung: `respond_within` is how long it has to acknowledge before the next rung is told."""

    number: int
    name: str
    respond_within: timedelta
    targets: Targets


class SeverityRule(msgspec.Struct, frozen=True, kw_only=True):
    ack_within: timedelta
    expected_resolution: timedelta
    pagerduty: bool
    slack: bool
    business_hours: bool = False


class Ladder(msgspec.Struct, frozen=True, kw_only=True):
    """The levels of one service or team; `match` empty means the default ladder."""

    name: str
    match: dict[str, str]
    levels: tuple[Level, ...]
    repeat_last: int = 0

    def level(self, number: int) -> Level:
        """Level `number`, clamped to the ladder, so a shorter policy loaded after a restart still answers."""
        return self.levels[max(1, min(number, len(self.levels))) - 1]

    @property
    def top(self) -> int:
        return len(self.levels)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.match.items())


class RcaTimers(msgspec.Struct, frozen=True, kw_only=True):
    """000_ecc4e94453621508.txt / 002 "Post-Incident Review": draft within 24 h, finished within 48 h."""

    severities: frozenset[Severity]
    draft_within: timedelta
    final_within: timedelta
    remind_before: tuple[timedelta, ...]


class EscalationPolicy(msgspec.Struct, frozen=True, kw_only=True):
    severities: dict[Severity, SeverityRule]
    ladders: tuple[Ladder, ...]
    calendar: BusinessCalendar | None = None
    rca: RcaTimers | None = None
    source: str = ""

    def ladder_for(self, labels: Mapping[str, str]) -> Ladder:
        """The most specific matching ladder (most `match` keys); file order breaks ties."""
        best: Ladder | None = None
        for ladder in self.ladders:
            if ladder.matches(labels) and (best is None or len(ladder.match) > len(best.match)):
                best = ladder
        if best is None:  # the loader guarantees a default; this keeps the domain total
            raise LookupError("escalation policy has no default ladder")
        return best

    def rule(self, severity: Severity) -> SeverityRule:
        return self.severities[severity]

    def calendar_for(self, severity: Severity) -> BusinessCalendar | None:
        return self.calendar if self.rule(severity).business_hours else None

    def targets_for(self, level: Level, severity: Severity) -> Targets:
        """A severity that does not page (002 "Alert Channels": P2/P3 Slack only) escalates in Slack only."""
        return level.targets if self.rule(severity).pagerduty else level.targets.without_paging()

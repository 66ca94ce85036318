"""Which escalation step comes next and when it is due: pure decisions over policy, severity and times.

The ladder: nobody acknowledged within the severity's deadline → level 1 is told;
each level then has its own `respond_within` before the next one is; the top
level is repeated `repeat_last` times, then the ladder is exhausted. Every
window counts business hours only when the severity's policy says so.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Any

import msgspec

from service.domain.escalation_policy import EscalationPolicy, Ladder
from service.domain.severity import Severity


class StepKind(enum.StrEnum):
    ESCALATE = "escalate"
    EXHAUSTED = "exhausted"
    OVERDUE = "overdue"
    RCA_REMINDER = "rca_reminder"

    @property
    def on_ladder(self) -> bool:
        """Ladder steps wait for an acknowledgement; the others run whoever holds the pager."""
        return self in (StepKind.ESCALATE, StepKind.EXHAUSTED)


class PlannedStep(msgspec.Struct, frozen=True, kw_only=True):
    kind: StepKind
    due_at: datetime
    level: int = 0
    attempt: int = 1
    data: dict[str, Any] = msgspec.field(default_factory=dict)


def after(policy: EscalationPolicy, severity: Severity, start: datetime, window: timedelta) -> datetime:
    calendar = policy.calendar_for(severity)
    return calendar.add(start, window) if calendar is not None else start + window


def first_rung(policy: EscalationPolicy, severity: Severity, armed_at: datetime) -> PlannedStep:
    """Level 1 is told when the severity's acknowledgement deadline passes (002 "Severity Levels")."""
    due = after(policy, severity, armed_at, policy.rule(severity).ack_within)
    return PlannedStep(kind=StepKind.ESCALATE, due_at=due, level=1)


def next_rung(
    policy: EscalationPolicy, ladder: Ladder, severity: Severity, level: int, attempt: int, told_at: datetime
) -> PlannedStep:
    """What follows telling `level` (for the `attempt`-th time) at `told_at`."""
    due = after(policy, severity, told_at, ladder.level(level).respond_within)
    if level < ladder.top:
        return PlannedStep(kind=StepKind.ESCALATE, due_at=due, level=level + 1)
    if attempt <= ladder.repeat_last:
        return PlannedStep(kind=StepKind.ESCALATE, due_at=due, level=ladder.top, attempt=attempt + 1)
    return PlannedStep(kind=StepKind.EXHAUSTED, due_at=due, level=ladder.top, attempt=attempt)


def rung_due(
    policy: EscalationPolicy, ladder: Ladder, severity: Severity, level: int, attempt: int, armed_at: datetime
) -> datetime:
    """When a pending rung armed at `armed_at` falls due under `severity` (used when severity changes)."""
    if level <= 1 and attempt == 1:
        return first_rung(policy, severity, armed_at).due_at
    previous = level if attempt > 1 else level - 1
    return after(policy, severity, armed_at, ladder.level(previous).respond_within)


def overdue_step(policy: EscalationPolicy, severity: Severity, opened_at: datetime) -> PlannedStep:
    """002 "When to Escalate": open for twice the expected resolution time. Counted on the wall clock."""
    due = opened_at + 2 * policy.rule(severity).expected_resolution
    return PlannedStep(kind=StepKind.OVERDUE, due_at=due)


def level_above(ladder: Ladder, highest_told: int) -> int:
    """One level above whoever holds it; the on-call engineer (level 1) holds it from the first page."""
    return min(max(highest_told, 1) + 1, ladder.top)


def rca_reminders(policy: EscalationPolicy, severity: Severity, resolved_at: datetime) -> list[PlannedStep]:
    """Reminders before the RCA draft and final deadlines (000 "Post-Mortem", 002 "Post-Incident Review")."""
    timers = policy.rca
    if timers is None or severity not in timers.severities:
        return []
    steps: list[PlannedStep] = []
    for stage, within in (("draft", timers.draft_within), ("final", timers.final_within)):
        deadline = resolved_at + within
        for before in timers.remind_before:
            steps.append(
                PlannedStep(
                    kind=StepKind.RCA_REMINDER,
                    due_at=max(resolved_at, deadline - before),
                    data={"stage": stage, "due": deadline.isoformat()},
                )
            )
    return steps

"""Performing one step: the event that tells people, and the step after it, in the caller's transaction.

The `escalated` event is the whole hand-off: the notifications observer turns it
into PagerDuty and Slack intents in this same transaction, so "told" and "recorded
as told" cannot disagree, whichever process dies when.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from service.domain import event_payloads
from service.domain.escalation_policy import EscalationPolicy, Ladder, Level
from service.domain.escalation_schedule import PlannedStep, StepKind, level_above, next_rung
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import VERSION as EVENT_VERSION
from service.domain.event_payloads import Escalated, EscalationExhausted, RcaReminder
from service.domain.incidents import Actor, Incident, Status
from service.escalation import steps_store as store
from service.escalation.steps_store import StepRow
from service.incidents.service import IncidentService, IncidentTransaction

ESCALATION_ACTOR = Actor("escalation", "escalation")
_ACK_TIMEOUT = "ack_timeout"


class StepInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What an escalation did; returned to the API and the Slack `/incident escalate` command."""

    incident_id: int
    level: int
    level_name: str
    reason: str
    targets: dict[str, list[str]]
    next_kind: str | None = None
    next_level: int | None = None
    next_due_at: datetime | None = None


class StepPerformer:
    def __init__(self, policy: EscalationPolicy, incidents: IncidentService) -> None:
        self.policy = policy
        self.incidents = incidents

    def _told(
        self, incident: Incident, ladder: Ladder, level: Level, reason: str, attempt: int
    ) -> dict[str, Any]:
        return Escalated(
            v=EVENT_VERSION,
            level=level.number,
            level_name=level.name,
            reason=reason,
            targets=self.policy.targets_for(level, incident.severity).as_data(),
            attempt=attempt,
            policy=ladder.name,
            severity=incident.severity.label,
            pages=self.policy.rule(incident.severity).pagerduty,
        ).as_data()

    async def perform(
        self, tx: IncidentTransaction, incident: Incident, step: StepRow, now: datetime
    ) -> bool:
        """Perform a claimed, due step; False when the incident moved on and the step no longer applies."""
        ladder = self.policy.ladder_for(incident.labels)
        if step.kind.on_ladder and incident.status is not Status.TRIGGERED:
            await store.finish(
                tx.conn, step.id, now, state="cancelled", reason=f"incident {incident.status.value}"
            )
            return False
        if step.kind is StepKind.ESCALATE:
            await self._climb(tx, incident, ladder, step, now, _ACK_TIMEOUT, ESCALATION_ACTOR)
        elif step.kind is StepKind.EXHAUSTED:
            top = ladder.level(step.level)
            exhausted = EscalationExhausted(
                level=top.number, level_name=top.name, attempts=step.attempt, policy=ladder.name
            )
            await self.incidents.record_in(
                tx, incident, EventKind.ESCALATION_EXHAUSTED, ESCALATION_ACTOR, exhausted.as_data()
            )
            await store.finish(tx.conn, step.id, now)
        elif step.kind is StepKind.OVERDUE:
            if not incident.status.is_open:
                await store.finish(tx.conn, step.id, now, state="cancelled", reason="incident resolved")
                return False
            level = ladder.level(level_above(ladder, await store.highest_told(tx.conn, incident.id)))
            data = self._told(incident, ladder, level, "overdue", 1)
            expected = self.policy.rule(incident.severity).expected_resolution
            data["expected_resolution_seconds"] = int(expected.total_seconds())
            data["open_since"] = step.armed_at.isoformat()
            await self.incidents.record_in(tx, incident, EventKind.ESCALATED, ESCALATION_ACTOR, data)
            await store.finish(tx.conn, step.id, now)
            await store.set_level(tx.conn, step.id, level.number)
        elif step.kind is StepKind.RCA_REMINDER:
            if incident.status is not Status.RESOLVED:
                await store.finish(tx.conn, step.id, now, state="cancelled", reason="incident reopened")
                return False
            stage, due = step.data.get("stage"), step.data.get("due")
            reminder = RcaReminder(stage=str(stage or ""), due=str(due or ""), owner=incident.assignee)
            data = {**event_payloads.data_of(reminder, step.data), "owner": incident.assignee}
            await self.incidents.record_in(tx, incident, EventKind.RCA_REMINDER, ESCALATION_ACTOR, data)
            await store.finish(tx.conn, step.id, now)
        return True

    async def climb_many(
        self, tx: IncidentTransaction, claimed: Sequence[tuple[Incident, StepRow]], now: datetime
    ) -> None:
        """`perform` for many due `escalate` steps of triggered incidents (one step per incident), in a
        few statements for all: their `escalated` events together (each observer sees them at once),
        the steps marked done, the rungs after them armed; everything stamped `now`, as `_climb` does."""
        told: list[tuple[Incident, str, dict[str, Any]]] = []
        following: list[tuple[int, PlannedStep]] = []
        for incident, step in claimed:
            if step.kind is not StepKind.ESCALATE or incident.status is not Status.TRIGGERED:
                raise ValueError(f"step {step.id} is not a due rung of a triggered incident")
            ladder = self.policy.ladder_for(incident.labels)
            level = ladder.level(step.level)
            told.append(
                (
                    incident,
                    EventKind.ESCALATED,
                    self._told(incident, ladder, level, _ACK_TIMEOUT, step.attempt),
                )
            )
            rung = next_rung(self.policy, ladder, incident.severity, level.number, step.attempt, now)
            following.append((incident.id, rung))
        await self.incidents.record_many_in(tx, told, ESCALATION_ACTOR, at=now)
        await store.finish_many(tx.conn, [step.id for _, step in claimed], now, reason=_ACK_TIMEOUT)
        await store.insert_pending_many(tx.conn, following, now)

    async def _climb(
        self,
        tx: IncidentTransaction,
        incident: Incident,
        ladder: Ladder,
        step: StepRow,
        now: datetime,
        reason: str,
        actor: Actor,
    ) -> StepInfo:
        level = ladder.level(step.level)
        data = self._told(incident, ladder, level, reason, step.attempt)
        # Stamped with the moment the next rung is timed from: the timeline then shows each level told
        # exactly its `respond_within` after the one before, however long this transaction took to get here.
        await self.incidents.record_in(tx, incident, EventKind.ESCALATED, actor, data, at=now)
        await store.finish(tx.conn, step.id, now, reason=reason)
        following = next_rung(self.policy, ladder, incident.severity, level.number, step.attempt, now)
        await store.insert(tx.conn, incident.id, following, now)
        return self._info(incident, level, reason, data, following)

    def _info(
        self,
        incident: Incident,
        level: Level,
        reason: str,
        data: dict[str, Any],
        following: PlannedStep | None,
    ) -> StepInfo:
        return StepInfo(
            incident_id=incident.id,
            level=level.number,
            level_name=level.name,
            reason=reason,
            targets=data["targets"],
            next_kind=following.kind.value if following else None,
            next_level=following.level if following else None,
            next_due_at=following.due_at if following else None,
        )

    async def escalate_now(
        self, tx: IncidentTransaction, incident: Incident, actor: Actor, now: datetime
    ) -> StepInfo:
        """Tell the next level now: the pending rung if the ladder runs, else one above the highest told."""
        ladder = self.policy.ladder_for(incident.labels)
        rungs = [s for s in await store.pending(tx.conn, incident.id, lock=True) if s.kind.on_ladder]
        if rungs and rungs[0].kind is StepKind.ESCALATE:
            return await self._climb(tx, incident, ladder, rungs[0], now, "manual", actor)
        level = ladder.level(level_above(ladder, await store.highest_told(tx.conn, incident.id)))
        data = self._told(incident, ladder, level, "manual", 1)
        await self.incidents.record_in(tx, incident, EventKind.ESCALATED, actor, data, at=now)
        done = PlannedStep(kind=StepKind.ESCALATE, due_at=now, level=level.number)
        await store.insert(tx.conn, incident.id, done, now, state="done", finished_at=now, reason="manual")
        following = rungs[0] if rungs else None
        planned = (
            PlannedStep(kind=following.kind, due_at=following.due_at, level=following.level)
            if following
            else None
        )
        return self._info(incident, level, "manual", data, planned)

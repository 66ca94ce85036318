"""The IncidentService observer: arms, stops, re-arms and reschedules timers inside each incident change.

Running in the change's own transaction means an acknowledgement and the
cancellation of the page it makes unnecessary commit together: there is no
window in which the ladder fires for an incident someone already holds.
Our own events (`escalated`, `escalation_*`, `rca_reminder`) pass through here
too, since `record_in` publishes them; they are not in the table below, so
they are ignored and nothing recurses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from service.domain.escalation_policy import EscalationPolicy
from service.domain.escalation_schedule import (
    PlannedStep,
    StepKind,
    after,
    first_rung,
    overdue_step,
    rca_reminders,
    rung_due,
)
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import EscalationChanged
from service.domain.incidents import Incident, Status
from service.escalation import steps_store as store
from service.escalation.performing import ESCALATION_ACTOR
from service.incidents.service import IncidentChange, IncidentService, IncidentTransaction

REARM_ON = {EventKind.UNACKNOWLEDGED, EventKind.REOPENED, EventKind.RETRIGGERED, EventKind.UNSILENCED}
STOP_ON = {
    EventKind.ACKNOWLEDGED,
    EventKind.MITIGATED,
    EventKind.SILENCED,
}  # silenced: every firing alert of it is muted
HANDLED = {
    EventKind.DECLARED,
    EventKind.RESOLVED,
    EventKind.SEVERITY_RAISED,
    EventKind.SEVERITY_LOWERED,
    *REARM_ON,
    *STOP_ON,
}
_ALL_KINDS = [k.value for k in StepKind]


class Arming:
    def __init__(self, policy: EscalationPolicy, incidents: IncidentService) -> None:
        self.policy = policy
        self.incidents = incidents

    async def __call__(self, tx: IncidentTransaction, change: IncidentChange) -> None:
        incident = change.incident
        for event in change.events:
            if event.kind in HANDLED:
                await self._react(tx, incident, event.kind, event.at)

    async def observe_many(self, tx: IncidentTransaction, changes: Sequence[IncidentChange]) -> None:
        """Incidents opened together (an alert storm) arm their first rung and overdue step with one
        statement; any other change goes through `__call__`."""
        opened: list[tuple[int, PlannedStep]] = []
        armed_at: datetime | None = None
        for change in changes:
            kinds = [e.kind for e in change.events if e.kind in HANDLED]
            at = change.events[0].at if change.events else None
            if kinds == ["declared"] and armed_at in (None, at) and at is not None:
                armed_at = at
                severity = change.incident.severity
                opened.append((change.incident.id, first_rung(self.policy, severity, at)))
                opened.append((change.incident.id, overdue_step(self.policy, severity, at)))
            else:
                await self(tx, change)
        if opened and armed_at is not None:
            await store.insert_pending_many(tx.conn, opened, armed_at)

    async def _react(self, tx: IncidentTransaction, incident: Incident, kind: str, now: datetime) -> None:
        if kind == EventKind.DECLARED:
            await store.insert(tx.conn, incident.id, first_rung(self.policy, incident.severity, now), now)
            await store.insert(tx.conn, incident.id, overdue_step(self.policy, incident.severity, now), now)
        elif kind in STOP_ON:
            if await store.cancel(tx.conn, incident.id, store.LADDER_KINDS, kind, now):
                await self._say(tx, incident, EventKind.ESCALATION_STOPPED, kind)
        elif kind == EventKind.RESOLVED:
            stopped = await store.cancel(tx.conn, incident.id, store.LADDER_KINDS, kind, now)
            await store.cancel(tx.conn, incident.id, _ALL_KINDS, kind, now)
            if stopped:
                await self._say(tx, incident, EventKind.ESCALATION_STOPPED, kind)
            for step in rca_reminders(self.policy, incident.severity, now):
                await store.insert(tx.conn, incident.id, step, now)
        elif kind == EventKind.UNSILENCED and incident.status is not Status.TRIGGERED:
            return  # someone holds it (acknowledged, mitigated): the mute ending changes nothing
        elif kind in REARM_ON:
            await store.cancel(tx.conn, incident.id, store.LADDER_KINDS, kind, now)
            await store.insert(tx.conn, incident.id, first_rung(self.policy, incident.severity, now), now)
            if kind == EventKind.REOPENED:
                await store.cancel(
                    tx.conn, incident.id, [StepKind.RCA_REMINDER.value, StepKind.OVERDUE.value], kind, now
                )
                await store.insert(
                    tx.conn, incident.id, overdue_step(self.policy, incident.severity, now), now
                )
            await self._say(tx, incident, EventKind.ESCALATION_REARMED, kind)
        else:
            await self._reschedule(tx, incident, raised=kind == EventKind.SEVERITY_RAISED)

    async def _say(self, tx: IncidentTransaction, incident: Incident, kind: str, reason: str) -> None:
        data = EscalationChanged(reason=reason).as_data()
        await self.incidents.record_in(tx, incident, kind, ESCALATION_ACTOR, data)

    async def _reschedule(self, tx: IncidentTransaction, incident: Incident, *, raised: bool) -> None:
        """Move pending steps to the new severity's deadlines; a raise never makes a step later."""
        ladder = self.policy.ladder_for(incident.labels)
        severity = incident.severity
        for step in await store.pending(tx.conn, incident.id, lock=True):
            if step.kind is StepKind.ESCALATE:
                due = rung_due(self.policy, ladder, severity, step.level, step.attempt, step.armed_at)
            elif step.kind is StepKind.EXHAUSTED:
                due = after(self.policy, severity, step.armed_at, ladder.level(step.level).respond_within)
            elif step.kind is StepKind.OVERDUE:
                due = overdue_step(self.policy, severity, step.armed_at).due_at
            else:
                continue
            if raised:
                due = min(due, step.due_at)
            if due != step.due_at:
                await store.reschedule(tx.conn, step.id, due)

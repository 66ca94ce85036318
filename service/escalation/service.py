"""What the API and Slack (`/incident escalate`, `/incident oncall`) may ask of escalation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import msgspec

from service.adapters.postgres.database import Database
from service.clock import Clock
from service.dependencies import Key
from service.domain.escalation_policy import EscalationPolicy, Targets
from service.domain.incidents import Actor, Incident
from service.escalation import steps_store as store
from service.escalation.performing import StepInfo, StepPerformer
from service.escalation.worker import Wakeup
from service.incidents.service import Conflict


class OncallLevel(msgspec.Struct, frozen=True, kw_only=True):
    """One level of a ladder: `delay` is how long it has to respond before the next level is told."""

    number: int
    name: str
    delay: timedelta
    targets: Targets
    policy: str


class EscalationService:
    def __init__(
        self, db: Database, policy: EscalationPolicy, performer: StepPerformer, clock: Clock, wakeup: Wakeup
    ) -> None:
        self.db = db
        self.policy = policy
        self.performer = performer
        self.clock = clock
        self.wakeup = wakeup

    async def escalate_now(self, incident_id: int, actor: Actor) -> StepInfo:
        """Tell the next level now; IncidentNotFound (404), or Conflict (409) for a resolved incident."""
        incidents = self.performer.incidents
        async with incidents.transaction() as tx:
            incident = await incidents.lock_in(tx, incident_id)
            if not incident.status.is_open:
                raise Conflict(f"{incident.human_id} is resolved; reopen it before escalating")
            info = await self.performer.escalate_now(tx, incident, actor, self.clock())
        self.wakeup.poke()
        return info

    def oncall(self, labels: Mapping[str, str]) -> list[OncallLevel]:
        ladder = self.policy.ladder_for(labels)
        return [
            OncallLevel(
                number=level.number,
                name=level.name,
                delay=level.respond_within,
                targets=level.targets,
                policy=ladder.name,
            )
            for level in ladder.levels
        ]

    async def detail(self, incident: Incident) -> dict[str, Any]:
        """extras.escalation of GET /api/v1/incidents/{id}: the next step and when it is due."""
        ladder = self.policy.ladder_for(incident.labels)
        async with self.db.connection() as conn:
            steps = await store.pending(conn, incident.id)
            highest = await store.highest_told(conn, incident.id)
        pending = [_step_view(self.policy, incident, s.kind.value, s.level, s.due_at, s.data) for s in steps]
        rung = next((p for p in pending if p["kind"] in ("escalate", "exhausted")), None)
        return {
            "policy": ladder.name,
            "pages": self.policy.rule(incident.severity).pagerduty,
            "highest_level_told": highest,
            "next": rung or (pending[0] if pending else None),
            "pending": pending,
        }


def _step_view(
    policy: EscalationPolicy,
    incident: Incident,
    kind: str,
    level: int,
    due_at: datetime,
    data: dict[str, Any],
) -> dict[str, Any]:
    view: dict[str, Any] = {"kind": kind, "due_at": due_at.isoformat()}
    if kind in ("escalate", "exhausted") and level:
        chosen = policy.ladder_for(incident.labels).level(level)
        view.update(level=chosen.number, level_name=chosen.name)
    if kind == "rca_reminder":
        view["stage"] = data.get("stage")
    return view


ESCALATION: Key[EscalationService] = Key("escalation")

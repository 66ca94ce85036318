"""Builds the escalation component against a test database with a controllable clock."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.components import Component, Context
from service.config.policy_files import load_severity_policy
from service.config.silence_policy import SilencePolicy
from service.escalation.component import EscalationConfig, build
from service.escalation.service import ESCALATION, EscalationService
from service.escalation.worker import ESCALATION_WORKER, EscalationWorker
from service.incidents.service import IncidentService
from service.settings import Settings, load_settings
from service.silences.snapshot import Muter

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "rules" / "policy" / "escalation.yaml"


def settings() -> Settings:
    return msgspec.structs.replace(
        load_settings({}), rules_dir=ROOT / "rules", templates_dir=ROOT / "incident_templates"
    )


@dataclass
class Rig:
    clock: FrozenClock
    incidents: IncidentService
    component: Component

    @property
    def worker(self) -> EscalationWorker:
        return self.component.provided(ESCALATION_WORKER)

    @property
    def escalation(self) -> EscalationService:
        return self.component.provided(ESCALATION)


def rig(db: Database, clock: FrozenClock | None = None, policy: Path = POLICY, batch_size: int = 100) -> Rig:
    clock = clock or FrozenClock()
    incidents = IncidentService(db, clock=clock)
    context = Context(
        settings=settings(),
        database_url="",
        db=db,
        incidents=incidents,
        clock=clock,
        severity_policy=load_severity_policy(ROOT / "rules" / "policy" / "severities.yaml"),
        muter=Muter(SilencePolicy()),
    )
    component = build(context, EscalationConfig(policy_path=policy, batch_size=batch_size))
    component.attach(incidents)
    return Rig(clock, incidents, component)

"""Escalation as a capability: `build(context)` wires the policy, the observer, the worker and the routes."""

from __future__ import annotations

from pathlib import Path

import msgspec

from service.components import Component, Context
from service.config.escalation_policy_files import DEFAULT_ESCALATION_POLICY, require_escalation_policy
from service.escalation.arming import HANDLED, Arming
from service.escalation.performing import StepPerformer
from service.escalation.routes import escalate, oncall
from service.escalation.service import ESCALATION, EscalationService
from service.escalation.worker import ESCALATION_WORKER, EscalationWorker, Wakeup
from service.incidents.service import IncidentChange
from service.supervisor import Worker


class EscalationConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Tuning for tests and benchmarks; the policy path defaults to INCIDENTD_ESCALATION_POLICY (Settings)."""

    policy_path: Path | None = None
    batch_size: int = 500
    max_sleep: float = 1.0
    concurrency: int = 3


def policy_path(context: Context, config: EscalationConfig) -> Path:
    return config.policy_path or context.settings.policies / DEFAULT_ESCALATION_POLICY


def build(context: Context, config: EscalationConfig | None = None) -> Component:
    config = config or EscalationConfig(policy_path=context.settings.escalation_policy)
    policy = require_escalation_policy(policy_path(context, config))
    performer = StepPerformer(policy, context.incidents)
    wakeup = Wakeup()
    service = EscalationService(context.db, policy, performer, context.clock, wakeup)
    worker = EscalationWorker(
        context.db,
        performer,
        context.clock,
        batch_size=config.batch_size,
        max_sleep=config.max_sleep,
        wakeup=wakeup,
        concurrency=config.concurrency,
    )

    def poke(change: IncidentChange) -> None:
        if any(event.kind in HANDLED for event in change.events):
            wakeup.poke()

    return Component(
        name="escalation",
        workers=[Worker("escalation", worker.loop, stall_after=60.0)],
        routes=[escalate, oncall],
        detail_contributors={"escalation": service.detail},
        provides=[ESCALATION.given(service), ESCALATION_WORKER.given(worker)],
        observers=[Arming(policy, context.incidents)],
        after_commit=[poke],
    )

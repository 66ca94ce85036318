"""Escalation as a capability: `build(context)` wires the policy, the observer, the worker and the routes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from service.adapters.escalation_policy_files import DEFAULT_ESCALATION_POLICY, require_escalation_policy
from service.components import Component, Context
from service.escalation.api import STATE_KEY, escalate, oncall
from service.escalation.arming import HANDLED, Arming
from service.escalation.performing import StepPerformer
from service.escalation.service import EscalationService
from service.escalation.worker import EscalationWorker, Wakeup
from service.incidents.service import IncidentChange

POLICY_ENV = "INCIDENTD_ESCALATION_POLICY"


class EscalationConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Until Settings grows INCIDENTD_ESCALATION_POLICY, the policy path comes from here (None: rules dir)."""

    policy_path: Path | None = None
    batch_size: int = 100
    max_sleep: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EscalationConfig:
        raw = env.get(POLICY_ENV, "").strip()
        return cls(policy_path=Path(raw) if raw else None)


def policy_path(context: Context, config: EscalationConfig) -> Path:
    return config.policy_path or context.settings.rules_dir / DEFAULT_ESCALATION_POLICY


def build(context: Context, config: EscalationConfig | None = None) -> Component:
    config = config or EscalationConfig.from_env(os.environ)
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
    )
    context.incidents.add_observer(Arming(policy, context.incidents))

    def poke(change: IncidentChange) -> None:
        if any(event.kind in HANDLED for event in change.events):
            wakeup.poke()

    context.incidents.add_after_commit(poke)
    return Component(
        name="escalation",
        workers=[("escalation", worker.loop)],
        routes=[escalate, oncall],
        detail_contributors=[service.detail],
        state={STATE_KEY: service, "escalation_worker": worker},
    )

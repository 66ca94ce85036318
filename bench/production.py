"""The service as production composes it, for benchmarks that drive it in process.

`build_app` with the default components: every observer (escalation arming, outbox intents),
every after-commit listener (metrics, sender wake-up) is in the measured path. Only the rules'
value source is scripted, so an evaluation figure is evaluation + persistence + incident changes;
collection and parsing are measured on their own (bench_parse.py, the end-to-end scenario).
Workers are not started: the benchmark drives rounds itself, on its own clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import msgspec
from litestar import Litestar

from service.adapters.postgres.database import DATABASE, Database
from service.alerting.component import EVALUATOR
from service.alerting.component import build as build_alerting
from service.alerting.evaluator import Evaluator
from service.alerting.value_source import ValueSource
from service.app import build_app, default_components
from service.clock import Clock
from service.dependencies import STATE_NAME, Key, Registry
from service.incidents.service import INCIDENTS, IncidentService
from service.settings import Settings, load_settings

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent

# Made-up credentials for the scratch service: deliveries go nowhere unless a benchmark points them
# at the local fakes, but the notification policy needs a routing key to write PagerDuty intents.
BENCH_ENV = {"PAGERDUTY_ROUTING_KEY": "bench-routing-key", "SLACK_BOT_TOKEN": "xoxb-bench"}


def bench_settings(rules_dir: Path, env: Mapping[str, str] | None = None) -> Settings:
    settings = load_settings({**BENCH_ENV, **(env or {}), "INCIDENTD_LOG_LEVEL": "error"})
    return msgspec.structs.replace(
        settings,
        rules_dir=rules_dir,
        policy_dir=ROOT / "rules" / "policy",
        templates_dir=ROOT / "incident_templates",
        workers=False,
    )


@dataclass
class Service:
    app: Litestar
    registry: Registry

    def get(self, key: Key[T]) -> T:
        return self.registry.get(key)

    @property
    def evaluator(self) -> Evaluator:
        return self.get(EVALUATOR)

    @property
    def incidents(self) -> IncidentService:
        return self.get(INCIDENTS)

    @property
    def db(self) -> Database:
        return self.get(DATABASE)

    async def close(self) -> None:
        for hook in self.app.on_shutdown:
            await hook(self.app)  # type: ignore[call-arg]


def build_service(
    database_url: str,
    rules_dir: Path,
    *,
    clock: Clock,
    source: ValueSource | None = None,
    env: Mapping[str, str] | None = None,
) -> Service:
    """The default components, with the rules reading `source` when given (else the real collector)."""
    factories = list(default_components())
    if source is not None:
        factories = [
            partial(build_alerting, source_factory=lambda _sources: source) if f is build_alerting else f
            for f in factories
        ]
    app = build_app(bench_settings(rules_dir, env), database_url, clock=clock, components=factories)
    return Service(app, app.state[STATE_NAME])

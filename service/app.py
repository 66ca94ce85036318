"""The composition root: the one place that builds adapters, services, workers and the Litestar app.

Everything else receives its collaborators; nothing else reads the environment
or opens connections on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import structlog
from litestar import Litestar
from litestar.datastructures import State

from service.adapters.postgres.database import DATABASE, Database
from service.adapters.postgres.migrations import migrate
from service.clock import Clock, system_clock
from service.components import Component, Context, attach_in_order
from service.config.policy_files import load_severity_policy
from service.config.rca_policy_files import load_rca_policy
from service.config.silence_policy import require_silence_policy
from service.dependencies import STATE_NAME, Key, Registry
from service.escalation.service import ESCALATION
from service.http.api_docs import openapi_config, swagger_assets
from service.http.auth import API_TOKENS
from service.http.errors import EXCEPTION_HANDLERS
from service.http.health import (
    METRICS_READERS,
    OPEN_INCIDENTS_SOURCE,
    READINESS_NOTES,
    SUPERVISOR,
    healthz,
    metrics,
    readyz,
)
from service.http.input_limits import reject_hostile_input
from service.http.metrics_middleware import metrics_middleware
from service.http.openapi_contract import document_behaviour
from service.http.request_id import request_id_middleware
from service.incidents.details import DETAIL_CONTRIBUTORS, merge_contributors
from service.incidents.routes import (
    INCIDENT_EXCEPTION_HANDLERS,
    PUBLIC_URL,
    SEVERITY_POLICY,
    IncidentController,
)
from service.incidents.service import INCIDENTS, IncidentChange, IncidentService
from service.observability import INCIDENT_EVENTS
from service.rca.routes import RcaController
from service.rca.service import RCA, RcaService
from service.settings import Settings
from service.silences.maintenance_api import MaintenanceController
from service.silences.service import SILENCES, Silences
from service.silences.snapshot import MUTER, Muter
from service.slack_commands.escalation_port import ESCALATION_PORT
from service.supervisor import Supervisor, Worker

ComponentFactory = Callable[[Context], Component]


# The order observers see each incident change in, inside its transaction: escalation arms or
# stops its timers (and writes its own events) before notifications turn the change into messages.
OBSERVER_ORDER = ("escalation", "notifications")
SCHEMA_READY: Key[asyncio.Event] = Key("schema_ready")


def default_components() -> list[ComponentFactory]:
    """The capabilities a production service runs."""
    from service.alerting.component import build as alerting
    from service.alerting.pushed_component import build as pushed_alerts
    from service.escalation.component import build as escalation
    from service.notifications.component import build as notifications
    from service.rca.component import build as action_items
    from service.reports.component import build as reports
    from service.retention.component import build as retention
    from service.slack_commands.component import build as slack_commands
    from service.web.component import build as web

    return [
        alerting,
        pushed_alerts,
        escalation,
        notifications,
        action_items,
        slack_commands,
        retention,
        reports,
        web,
    ]


log = structlog.get_logger(__name__)


def _count_events(change: IncidentChange) -> None:
    for event in change.events:
        INCIDENT_EVENTS.labels(kind=event.kind).inc()


def build_app(
    settings: Settings,
    database_url: str,
    *,
    clock: Clock = system_clock,
    run_workers: bool | None = None,
    components: Sequence[ComponentFactory] | None = None,
) -> Litestar:
    db = Database(
        database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        connect_timeout=settings.db_connect_timeout,
        command_timeout=settings.db_command_timeout,
    )
    severity_policy = load_severity_policy(settings.policies / "severities.yaml")
    muter = Muter(require_silence_policy(settings.policies))
    # Silences and windows are part of the core: every door for alerts asks the muter.
    silences = Silences(db, muter, clock)
    incidents = IncidentService(db, clock=clock, after_commit=[_count_events])
    rca = RcaService(
        db,
        incidents,
        settings.templates_dir,
        load_rca_policy(settings.policies / "rca.yaml"),
        public_url=settings.public_url,
    )
    supervisor = Supervisor()
    workers_enabled = settings.workers if run_workers is None else run_workers
    schema_ready = asyncio.Event()

    def own_pool(name: str, max_size: int) -> Database:
        return Database(
            database_url,
            min_size=1,
            max_size=max_size,
            connect_timeout=settings.db_connect_timeout,
            command_timeout=settings.db_command_timeout,
            application_name=name,
        )

    context = Context(
        settings=settings,
        database_url=database_url,
        db=db,
        incidents=incidents,
        clock=clock,
        severity_policy=severity_policy,
        muter=muter,
        pool_factory=own_pool,
    )
    built = [factory(context) for factory in (default_components() if components is None else components)]
    attach_in_order(incidents, built, OBSERVER_ORDER)
    workers: list[Worker] = [w for c in built for w in c.workers]

    async def maintain_schema(stop: asyncio.Event) -> None:
        async with db.connection() as conn:
            applied = await migrate(conn)
        log.info("schema_ready", applied=[m.version for m in applied])
        schema_ready.set()
        if workers_enabled:
            for worker in workers:
                supervisor.start_worker(worker)

    async def on_startup(app: Litestar) -> None:
        supervisor.start("migrations", maintain_schema)

    async def on_shutdown(app: Litestar) -> None:
        await supervisor.stop()
        for component in built:
            for hook in component.on_shutdown:
                await hook()
        await db.close()

    registry = Registry(
        [
            DATABASE.given(db),
            INCIDENTS.given(incidents),
            OPEN_INCIDENTS_SOURCE.given(incidents),
            RCA.given(rca),
            API_TOKENS.given(settings.api_tokens),
            PUBLIC_URL.given(settings.public_url),
            SEVERITY_POLICY.given(severity_policy),
            DETAIL_CONTRIBUTORS.given(merge_contributors((c.name, c.detail_contributors) for c in built)),
            READINESS_NOTES.given({}),
            SCHEMA_READY.given(schema_ready),
            SUPERVISOR.given(supervisor),
            METRICS_READERS.given([r for c in built for r in c.metrics_readers]),
            MUTER.given(muter),
            SILENCES.given(silences),
            *[p for c in built for p in c.provides],
        ]
    )
    escalation = registry.find(ESCALATION)
    if escalation is not None:
        registry.provide(ESCALATION_PORT.given(escalation))  # what Slack commands may ask of it
    state = State({STATE_NAME: registry})
    app = Litestar(
        route_handlers=[
            IncidentController,
            RcaController,
            MaintenanceController,
            swagger_assets(),
            healthz,
            readyz,
            metrics,
            *[r for c in built for r in c.routes],
        ],
        exception_handlers={**EXCEPTION_HANDLERS, **INCIDENT_EXCEPTION_HANDLERS},
        middleware=[request_id_middleware, metrics_middleware],
        before_request=reject_hostile_input,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        state=state,
        openapi_config=openapi_config(),
        debug=False,
        request_max_body_size=1_048_576,
    )
    document_behaviour(app)
    return app


async def wait_until_ready(app: Litestar, timeout: float = 30.0) -> None:
    """For tests and the CLI: block until migrations have been applied.

    Polls rather than awaiting the event, because test clients may run the app's
    lifespan on another thread's loop, and asyncio.Event does not wake across loops.
    """
    registry: Registry = app.state[STATE_NAME]
    event = registry.get(SCHEMA_READY)
    deadline = asyncio.get_running_loop().time() + timeout
    while not event.is_set():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("schema not ready (is PostgreSQL reachable?)")
        await asyncio.sleep(0.02)

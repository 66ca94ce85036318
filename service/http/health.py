"""Liveness, readiness and metrics: what a load balancer and Prometheus ask."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg
from litestar import Request, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.adapters.postgres.database import DATABASE, DatabaseUnavailable
from service.adapters.postgres.migrations import pending_migrations
from service.dependencies import Key
from service.domain.severity import Severity
from service.observability import DATABASE_UP, OPEN_INCIDENTS
from service.supervisor import Supervisor

# Litestar adds the charset to every text/* type itself; naming it here too would send it twice.
METRICS_MEDIA_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")


class OpenIncidents(Protocol):
    """What /metrics needs from the incidents service (kept as a shape: this package sits below it)."""

    async def open_counts(self) -> dict[Severity, int]: ...


OPEN_INCIDENTS_SOURCE: Key[OpenIncidents] = Key("open_incidents")
# Capabilities that run degraded say so here (name -> why); /readyz shows it.
READINESS_NOTES: Key[dict[str, str]] = Key("readiness_notes")
# Gauges a capability reads from PostgreSQL when /metrics is scraped (see Component.metrics_readers).
MetricsReader = Callable[[asyncpg.Connection], Awaitable[None]]
METRICS_READERS: Key[list[MetricsReader]] = Key("metrics_readers")
SUPERVISOR: Key[Supervisor] = Key("supervisor")


@get("/healthz", include_in_schema=True, tags=["health"])
async def healthz() -> dict[str, str]:
    """The process is alive and serving; says nothing about its dependencies."""
    return {"status": "ok"}


@get("/readyz", tags=["health"])
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Ready when the database answers, every migration is applied and no worker is stuck.

    `degraded` lists workers whose last run failed (waiting for the database, crashed, restarted
    by the watchdog) until they complete a round again.
    """
    db = DATABASE.of(request)
    supervisor = SUPERVISOR.of(request)
    checks: dict[str, str] = {}
    try:
        async with db.connection() as conn:
            await conn.fetchval("SELECT 1")
            checks["database"] = "ok"
            pending = await pending_migrations(conn)
            checks["migrations"] = "ok" if not pending else f"{len(pending)} pending"
        DATABASE_UP.set(1)
    except DatabaseUnavailable as exc:
        DATABASE_UP.set(0)
        checks["database"] = str(exc)
    stalled = supervisor.stalled()
    checks["workers"] = "ok" if not stalled else "; ".join(f"{k}: {v}" for k, v in sorted(stalled.items()))
    ready = all(v == "ok" for v in checks.values()) and "migrations" in checks
    degraded = {**supervisor.failures, **READINESS_NOTES.of(request)}
    body = {"status": "ready" if ready else "not ready", "checks": checks, "degraded": degraded}
    return Response(body, status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE)


@get("/metrics", tags=["health"], media_type=METRICS_MEDIA_TYPE)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Open-incident gauges are read from PostgreSQL at scrape time, so every replica reports the truth."""
    incidents = OPEN_INCIDENTS_SOURCE.of(request)
    readers = METRICS_READERS.of(request)
    try:
        counts = await incidents.open_counts()
        if readers:
            async with DATABASE.of(request).connection() as conn:
                for read in readers:
                    await read(conn)
        for severity, count in counts.items():
            OPEN_INCIDENTS.labels(severity=severity.label).set(count)
        DATABASE_UP.set(1)
    except DatabaseUnavailable:
        DATABASE_UP.set(0)
    return Response(generate_latest(), media_type=METRICS_MEDIA_TYPE)

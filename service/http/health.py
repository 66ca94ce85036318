"""Liveness, readiness and metrics: what a load balancer and Prometheus ask."""

from __future__ import annotations

from typing import Any, Protocol

from litestar import Request, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.adapters.postgres.database import DATABASE, DatabaseUnavailable
from service.adapters.postgres.migrations import pending_migrations
from service.dependencies import Key
from service.domain.severity import Severity
from service.observability import DATABASE_UP, OPEN_INCIDENTS


class OpenIncidents(Protocol):
    """What /metrics needs from the incidents service (kept as a shape: this package sits below it)."""

    async def open_counts(self) -> dict[Severity, int]: ...


OPEN_INCIDENTS_SOURCE: Key[OpenIncidents] = Key("open_incidents")
# Capabilities that run degraded say so here (name -> why); /readyz shows it.
READINESS_NOTES: Key[dict[str, str]] = Key("readiness_notes")


@get("/healthz", include_in_schema=True, tags=["health"])
async def healthz() -> dict[str, str]:
    """The process is alive and serving; says nothing about its dependencies."""
    return {"status": "ok"}


@get("/readyz", tags=["health"])
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Ready when the database answers and every migration is applied."""
    db = DATABASE.of(request)
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
    ready = all(v == "ok" for v in checks.values()) and "migrations" in checks
    extra = READINESS_NOTES.of(request)
    body = {"status": "ready" if ready else "not ready", "checks": checks, "degraded": dict(extra)}
    return Response(body, status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE)


@get("/metrics", tags=["health"], media_type=CONTENT_TYPE_LATEST)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Open-incident gauges are read from PostgreSQL at scrape time, so every replica reports the truth."""
    incidents = OPEN_INCIDENTS_SOURCE.of(request)
    try:
        counts = await incidents.open_counts()
        for severity, count in counts.items():
            OPEN_INCIDENTS.labels(severity=severity.label).set(count)
        DATABASE_UP.set(1)
    except DatabaseUnavailable:
        DATABASE_UP.set(0)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

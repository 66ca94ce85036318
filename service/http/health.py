"""Liveness, readiness and metrics: what a load balancer and Prometheus ask."""

from __future__ import annotations

from typing import Any, Protocol

from litestar import Request, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.adapters.postgres.database import Database, DatabaseUnavailable
from service.adapters.postgres.migrations import pending_migrations
from service.domain.severity import Severity
from service.observability import DATABASE_UP, OPEN_INCIDENTS


class OpenIncidents(Protocol):
    """What /metrics needs from the incidents service (kept as a shape: this package sits below it)."""

    async def open_counts(self) -> dict[Severity, int]: ...


@get("/healthz", include_in_schema=True, tags=["health"])
async def healthz() -> dict[str, str]:
    """The process is alive and serving; says nothing about its dependencies."""
    return {"status": "ok"}


@get("/readyz", tags=["health"])
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Ready when the database answers and every migration is applied."""
    db: Database = request.app.state.db
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
    extra: dict[str, str] = request.app.state.readiness_notes
    body = {"status": "ready" if ready else "not ready", "checks": checks, "degraded": dict(extra)}
    return Response(body, status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE)


@get("/metrics", tags=["health"], media_type=CONTENT_TYPE_LATEST)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Open-incident gauges are read from PostgreSQL at scrape time, so every replica reports the truth."""
    incidents: OpenIncidents = request.app.state.incidents
    try:
        counts = await incidents.open_counts()
        for severity, count in counts.items():
            OPEN_INCIDENTS.labels(severity=severity.label).set(count)
        DATABASE_UP.set(1)
    except DatabaseUnavailable:
        DATABASE_UP.set(0)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

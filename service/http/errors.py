"""Domain exceptions mapped to HTTP answers, so no handler has to remember status codes."""

from __future__ import annotations

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.types import ExceptionHandlersMap

from service.adapters.postgres.database import DatabaseUnavailable
from service.domain.incidents import InvalidTransition
from service.incidents.service import Conflict, IncidentNotFound


def _error(status: int, message: str, **extra: object) -> Response[dict[str, object]]:
    headers = {"Retry-After": "5"} if status == 503 else None
    return Response({"status_code": status, "detail": message, **extra}, status_code=status, headers=headers)


def _not_found(_: Request, exc: Exception) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    return _error(404, str(exc))


def _conflict(_: Request, exc: Exception) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    return _error(409, str(exc))


def _unavailable(_: Request, exc: Exception) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    return _error(503, "database unavailable, retry shortly")


def _http(_: Request, exc: HTTPException) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    extra: dict[str, object] = {}
    if exc.extra:
        extra["extra"] = exc.extra
    response = _error(exc.status_code, exc.detail, **extra)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    IncidentNotFound: _not_found,
    InvalidTransition: _conflict,
    Conflict: _conflict,
    DatabaseUnavailable: _unavailable,
    HTTPException: _http,
}

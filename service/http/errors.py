"""Exceptions mapped to HTTP answers, so no handler has to remember status codes.

The answers every route shares live here (a database away, Litestar's own errors); each noun
maps its own exceptions with `error_response` beside its routes, and app.py merges them.
"""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.types import ExceptionHandlersMap

from service.adapters.postgres.database import DatabaseUnavailable
from service.http.request_id import request_id_of

AnyRequest = Request[Any, Any, Any]

log = structlog.get_logger(__name__)


def error_response(status: int, message: str, **extra: object) -> Response[dict[str, object]]:
    headers = {"Retry-After": "5"} if status == 503 else None
    return Response({"status_code": status, "detail": message, **extra}, status_code=status, headers=headers)


def not_found(_: AnyRequest, exc: Exception) -> Response[dict[str, object]]:
    return error_response(404, str(exc))


def conflict(_: AnyRequest, exc: Exception) -> Response[dict[str, object]]:
    return error_response(409, str(exc))


def _unavailable(_: AnyRequest, exc: Exception) -> Response[dict[str, object]]:
    return error_response(503, "database unavailable, retry shortly")


def _http(_: AnyRequest, exc: HTTPException) -> Response[dict[str, object]]:
    extra: dict[str, object] = {}
    if exc.extra:
        extra["extra"] = exc.extra
    response = error_response(exc.status_code, exc.detail, **extra)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _unexpected(request: AnyRequest, exc: Exception) -> Response[dict[str, object]]:
    """A bug: logged with its traceback; the caller gets the request id to quote, never the details."""
    rid = request_id_of(request.scope)
    log.error(
        "unhandled_error",
        request_id=rid,
        method=request.method,
        path=request.url.path,
        error=type(exc).__name__,
        exc_info=exc,
    )
    return error_response(500, f"internal error; quote request id {rid} when reporting it", request_id=rid)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DatabaseUnavailable: _unavailable,
    HTTPException: _http,
    Exception: _unexpected,
}

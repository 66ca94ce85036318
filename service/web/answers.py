"""How console handlers answer: post/redirect/get with a one-time message, and error pages.

A form post never renders a page itself; it changes something, leaves a message in the
session and redirects, so a reload cannot repeat the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from service.adapters.postgres.database import DATABASE, DatabaseUnavailable
from service.domain.incidents import InvalidTransition
from service.incidents.service import Conflict, IncidentNotFound
from service.web import sessions
from service.web.auth import (
    PASSWORD_PATH,
    Forbidden,
    LoginRequired,
    PasswordChangeRequired,
    WebUser,
    login_redirect,
    require_responder,
    with_new_session,
)
from service.web.render import SECURITY_HEADERS, html, render

AnyRequest = Request[Any, Any, Any]

# Errors a person can act on: shown as the flash message, never as a 500.
EXPECTED = (InvalidTransition, Conflict, IncidentNotFound, ValueError, LookupError)


async def form_of(request: AnyRequest) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


async def back(request: AnyRequest, user: WebUser, location: str, message: str) -> Redirect:
    async with DATABASE.of(request).connection() as conn:
        await sessions.set_flash(conn, user.token, message[:2000])
    response = Redirect(path=location, status_code=303, headers=dict(SECURITY_HEADERS))
    with_new_session(request, response)
    return response


Change = Callable[[WebUser, dict[str, str]], Awaitable[str]]


async def apply_change(
    request: AnyRequest,
    location: str,
    change: Change,
    expected: tuple[type[Exception], ...] = EXPECTED,
) -> Redirect:
    """Check the person and their CSRF token, make the change, and redirect back saying what happened."""
    form = await form_of(request)
    user = await require_responder(request, form)
    try:
        message = await change(user, form)
    except expected as exc:
        message = f"Not done: {exc}"
    return await back(request, user, location, message)


def _wants_html(request: AnyRequest) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept or not accept or accept == "*/*"


def error_page(request: AnyRequest, status: int, title: str, message: str) -> Response[Any]:
    if not _wants_html(request):
        return Response({"status_code": status, "detail": message}, status_code=status)
    return html(render("error.html", user=None, flash=None, title=title, message=message), status)


def _login_required(request: AnyRequest, exc: Exception) -> Response[Any]:
    assert isinstance(exc, LoginRequired)
    if request.method == "GET" and _wants_html(request):
        return Redirect(path=login_redirect(exc.next_path), status_code=303)
    return error_page(request, 401, "Log in first", "your session has ended; log in again")


def _password_change(request: AnyRequest, exc: Exception) -> Response[Any]:
    assert isinstance(exc, PasswordChangeRequired)
    if request.method == "GET" and _wants_html(request):
        return Redirect(path=f"{PASSWORD_PATH}?next={quote(exc.next_path, safe='/')}", status_code=303)
    return error_page(request, 403, "Change your password", "change your one-time password first")


def _forbidden(request: AnyRequest, exc: Exception) -> Response[Any]:
    return error_page(request, 403, "Not allowed", str(exc))


def _not_found(request: AnyRequest, exc: Exception) -> Response[Any]:
    return error_page(request, 404, "Not found", str(exc))


def _unavailable(request: AnyRequest, exc: Exception) -> Response[Any]:
    response = error_page(
        request, 503, "Database unavailable", "PostgreSQL cannot be reached right now; retry in a few seconds"
    )
    response.headers["Retry-After"] = "5"
    return response


WEB_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    LoginRequired: _login_required,
    PasswordChangeRequired: _password_change,
    Forbidden: _forbidden,
    IncidentNotFound: _not_found,
    DatabaseUnavailable: _unavailable,
}

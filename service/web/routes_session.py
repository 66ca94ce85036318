"""Logging in and out, and changing one's password.

The login form has no session yet, so its CSRF token is a double-submit cookie:
a random value set with the form and echoed in a hidden field. Failed logins are
counted per user name and per address (the real client's, behind a trusted proxy);
past the limit, passwords are not even checked. A password someone else chose (the
first admin's one-time password) must be changed before any other page opens.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable
from typing import Any
from urllib.parse import quote

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.params import FromQuery
from litestar.response import Redirect, Response

from service.adapters.postgres.database import DATABASE
from service.incidents.routes import PUBLIC_URL
from service.web import accounts, sessions
from service.web.answers import back, form_of
from service.web.auth import (
    PASSWORD_PATH,
    WebUser,
    check_csrf,
    current_user,
    require_user,
    safe_next,
    session_cookie,
)
from service.web.options import WEB_CLOCK, WEB_OPTIONS
from service.web.proxy_trust import client_address
from service.web.render import SECURITY_HEADERS, html, page, render

AnyRequest = Request[Any, Any, Any]
LOGIN_CSRF_COOKIE = "incidentd_login_csrf"


def _secure(request: AnyRequest) -> bool:
    public_url = PUBLIC_URL.of(request)
    return public_url.startswith("https://")


def _login_form(
    request: AnyRequest, *, next_path: str, error: str | None = None, status: int = 200, name: str = ""
) -> Response[str]:
    token = secrets.token_urlsafe(24)
    body = render(
        "login.html", user=None, flash=None, next_path=next_path, error=error, csrf=token, name=name
    )
    response = html(body, status)
    response.cookies.append(
        Cookie(
            key=LOGIN_CSRF_COOKIE,
            value=token,
            path="/login",
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            max_age=3600,
        )
    )
    return response


@get("/login", include_in_schema=False)
async def login_page(request: AnyRequest, next: FromQuery[str | None] = None) -> Response[Any]:
    if await current_user(request) is not None:
        return Redirect(path=safe_next(next), status_code=303)
    return _login_form(request, next_path=safe_next(next))


@post("/login", include_in_schema=False)
async def login_submit(request: AnyRequest) -> Response[Any]:
    form = await form_of(request)
    next_path = safe_next(form.get("next"))
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie_token or not hmac.compare_digest(cookie_token, form.get("csrf_token", "")):
        return _login_form(
            request, next_path=next_path, status=403, error="The form expired; please log in again."
        )
    name = form.get("name", "").strip()
    password = form.get("password", "")
    now = WEB_CLOCK.of(request)()
    options = WEB_OPTIONS.of(request)
    address = client_address(request, options)
    async with DATABASE.of(request).connection() as conn:
        if await accounts.login_blocked(conn, name, address, now):
            return _login_form(
                request,
                next_path=next_path,
                status=429,
                name=name,
                error="Too many failed logins for this account or address. Wait 15 minutes and try again.",
            )
        user = await accounts.authenticate(conn, name, password)
        if user is None:
            await accounts.record_failure(conn, name, address, now)
            return _login_form(
                request, next_path=next_path, status=401, name=name, error="Wrong user name or password."
            )
        await accounts.clear_failures(conn, name)
        token = await sessions.create(conn, user.name, now, options.session_lifetime)
    if user.must_change_password:
        next_path = f"{PASSWORD_PATH}?next={quote(next_path, safe='/')}"
    response = Redirect(path=next_path, status_code=303, headers=dict(SECURITY_HEADERS))
    response.cookies.append(session_cookie(request, token))
    response.cookies.append(Cookie(key=LOGIN_CSRF_COOKIE, value="", path="/login", max_age=0))
    return response


@post("/logout", include_in_schema=False)
async def logout(request: AnyRequest) -> Response[Any]:
    form = await form_of(request)
    user = await current_user(request)
    if user is not None and hmac.compare_digest(form.get("csrf_token", ""), user.csrf_token):
        async with DATABASE.of(request).connection() as conn:
            await sessions.delete(conn, user.token)
    response = Redirect(path="/login", status_code=303)
    response.cookies.append(Cookie(key=sessions.COOKIE, value="", path="/", max_age=0))
    return response


def _password_form(
    request: AnyRequest, user: WebUser, next_path: str, error: str | None = None, status: int = 200
) -> Awaitable[Response[str]]:
    return page(
        request,
        "password.html",
        status_code=status,
        next_path=next_path,
        error=error,
        forced=user.session.must_change_password,
        nav="password",
    )


@get(PASSWORD_PATH, include_in_schema=False)
async def password_page(request: AnyRequest, next: FromQuery[str | None] = None) -> Response[str]:
    user = await require_user(request, changing_password=True)
    return await _password_form(request, user, safe_next(next))


@post(PASSWORD_PATH, include_in_schema=False)
async def password_submit(request: AnyRequest) -> Response[Any]:
    """Change the password; every other browser logged in as this person is logged out."""
    form = await form_of(request)
    user = await require_user(request, changing_password=True)
    check_csrf(request, user, form)
    next_path = safe_next(form.get("next"))
    if user.via_proxy:
        return await _password_form(
            request,
            user,
            next_path,
            "You sign in through the sign-in proxy; incidentd keeps no password.",
            400,
        )
    new = form.get("new_password", "")
    if new != form.get("repeat_password", ""):
        return await _password_form(request, user, next_path, "The two new passwords differ.", 422)
    now = WEB_CLOCK.of(request)()
    async with DATABASE.of(request).connection() as conn:
        try:
            await accounts.change_password(conn, user.name, form.get("current_password", ""), new, now)
        except accounts.AccountError as exc:
            return await _password_form(request, user, next_path, str(exc)[:1].upper() + str(exc)[1:], 422)
        await sessions.end_others(conn, user.name, user.token)
    return await back(request, user, next_path, "Password changed; your other sessions have been logged out")

"""Who is looking at a console page, and whether they may change anything.

Every state-changing request must carry the session's CSRF token, as a form
field or an `X-CSRF-Token` header; the cookie alone never authorises a change.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.datastructures import Cookie

from service.adapters.postgres.database import DATABASE, Database
from service.clock import Clock
from service.domain.incidents import Actor
from service.incidents.routes import PUBLIC_URL
from service.web import accounts, sessions
from service.web.accounts import Role
from service.web.options import WEB_CLOCK, WEB_OPTIONS
from service.web.proxy_trust import proxy_user
from service.web.sessions import Session

AnyRequest = Request[Any, Any, Any]
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
ACTOR_SOURCE = "web"


class LoginRequired(Exception):
    """No live session: pages answer with a redirect to /login, scripts with 401."""

    def __init__(self, next_path: str) -> None:
        super().__init__("login required")
        self.next_path = next_path


class Forbidden(Exception):
    """Logged in, but this role or this request may not do that (HTTP 403)."""


class PasswordChangeRequired(Exception):
    """Logged in with a password someone else chose (the first admin's): change it before anything else."""

    def __init__(self, next_path: str) -> None:
        super().__init__("change your password first")
        self.next_path = next_path


PASSWORD_PATH = "/account/password"  # noqa: S105 - a page, not a secret


class WebUser:
    """The person behind a request: their session, and the cookie that names it."""

    def __init__(self, session: Session, token: str, *, via_proxy: bool = False) -> None:
        self.session = session
        self.token = token
        self.via_proxy = via_proxy

    @property
    def name(self) -> str:
        return self.session.user_name

    @property
    def role(self) -> Role:
        return self.session.role

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    @property
    def actor(self) -> Actor:
        """Timeline events name the person, through the `web` door."""
        return Actor(name=self.session.user_name, source=ACTOR_SOURCE)


def _db(request: AnyRequest) -> Database:
    return DATABASE.of(request)


def _clock(request: AnyRequest) -> Clock:
    return WEB_CLOCK.of(request)


NEW_SESSION = "web_new_session"


async def current_user(request: AnyRequest) -> WebUser | None:
    """The session's person; behind a trusted authenticating proxy, the person the proxy names.

    A proxy-named person gets a session of their own (for CSRF tokens and messages), set as a
    cookie on the next page; a cookie for someone else than the proxy names is ignored.
    """
    cached = request.scope.get("state", {}).get("web_user")
    if isinstance(cached, WebUser):
        return cached
    options = WEB_OPTIONS.of(request)
    vouched = proxy_user(request, options)
    token = request.cookies.get(sessions.COOKIE)
    if not token and vouched is None:
        return None
    now = _clock(request)()
    async with _db(request).connection() as conn:
        session = await sessions.lookup(conn, token, now, options.session_lifetime) if token else None
        if vouched is not None and (session is None or session.user_name != vouched):
            if not await accounts.exists(conn, vouched):
                raise Forbidden(
                    f"the sign-in proxy names you {vouched!r}, but incidentd has no account by that name;"
                    " an admin adds it with `incidentd users add`"
                )
            token = await sessions.create(conn, vouched, now, options.session_lifetime)
            session = await sessions.lookup(conn, token, now, options.session_lifetime)
            setattr(request.state, NEW_SESSION, token)
    if session is None or token is None:
        return None
    user = WebUser(session, token, via_proxy=vouched is not None)
    request.state.web_user = user
    return user


def session_cookie(request: AnyRequest, token: str) -> Cookie:
    return Cookie(
        key=sessions.COOKIE,
        value=token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=PUBLIC_URL.of(request).startswith("https://"),
        max_age=int(WEB_OPTIONS.of(request).session_lifetime.absolute.total_seconds()),
    )


def with_new_session(request: AnyRequest, response: Response[Any]) -> Response[Any]:
    """Hand the browser the cookie of a session made for a proxy-named person during this request."""
    token = request.scope.get("state", {}).get(NEW_SESSION)
    if isinstance(token, str):
        response.cookies.append(session_cookie(request, token))
    return response


def _here(request: AnyRequest) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


async def require_user(request: AnyRequest, *, changing_password: bool = False) -> WebUser:
    user = await current_user(request)
    if user is None:
        raise LoginRequired(_here(request))
    if user.session.must_change_password and not user.via_proxy and not changing_password:
        raise PasswordChangeRequired(_here(request))
    return user


def check_csrf(request: AnyRequest, user: WebUser, form: dict[str, Any] | None) -> None:
    presented = request.headers.get(CSRF_HEADER) or (str(form.get(CSRF_FIELD, "")) if form else "")
    if not presented or not hmac.compare_digest(presented, user.csrf_token):
        raise Forbidden("the form's security token is missing or stale; reload the page and try again")


async def require_responder(request: AnyRequest, form: dict[str, Any] | None) -> WebUser:
    """A logged-in responder or admin whose request carries their CSRF token."""
    user = await require_user(request)
    check_csrf(request, user, form)
    if not user.role.can_act:
        raise Forbidden(f"{user.name} is a viewer: viewers can read everything but change nothing")
    return user


def login_redirect(next_path: str) -> str:
    return f"/login?next={quote(next_path, safe='/')}"


def safe_next(raw: str | None) -> str:
    """Only local paths: a login link must not bounce a person to another site."""
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/"

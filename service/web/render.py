"""Jinja2 for the console's HTML: autoescape always on, strict about undefined names.

Values reach a page in two ways only: escaped by Jinja (titles, labels, names, numbers),
or as Markdown rendered by the RCA sanitiser (notes, RCA text), marked safe after nh3
has cleaned it. Nothing else is ever marked safe, except the remembered output of an
autoescaped template (a timeline entry).
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import jinja2
import msgspec
from litestar import Request, Response
from markupsafe import Markup

from service.adapters.postgres.database import DATABASE
from service.domain.durations import format_duration
from service.domain.incidents import TimelineEvent
from service.rca.markdown_html import markdown_to_safe_html
from service.web import sessions
from service.web.auth import WebUser, current_user, with_new_session
from service.web.options import WEB_CLOCK

AnyRequest = Request[Any, Any, Any]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("service.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

SECURITY_HEADERS = {
    # Our own scripts and styles only; no inline script can run, whatever a title contains.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _asset_version() -> str:
    digest = hashlib.sha256()
    folder = resources.files("service.web") / "static"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_file():
            digest.update(entry.read_bytes())
    return digest.hexdigest()[:10]


ASSET_VERSION = _asset_version()


# Timeline text never changes once written, and an open page is re-rendered on every change:
# remembering recent renderings keeps a 100-event timeline cheap. Bounded, so memory is too.
_sanitised = functools.lru_cache(maxsize=4096)(markdown_to_safe_html)


def _markdown(text: str) -> Markup:
    return Markup(_sanitised(text))  # noqa: S704 - nh3 has cleaned it


def _duration(value: timedelta | float | None) -> str:
    if value is None:
        return "—"
    delta = value if isinstance(value, timedelta) else timedelta(seconds=value)
    return format_duration(abs(delta))


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


_ENV.filters.update(markdown=_markdown, duration=_duration, when=_when, iso=_iso)


class _Shown(msgspec.Struct, frozen=True):
    """What a timeline entry shows: every value that reaches its HTML, so equal keys render equally."""

    id: int
    kind: str
    at: datetime
    actor: str
    source: str


@functools.lru_cache(maxsize=8192)
def _timeline_item_html(shown: _Shown, summary: str, text: str | None) -> str:
    return _ENV.get_template("_event.html").render(e=shown, summary=summary, text=text)


def _timeline_item(event: TimelineEvent, summary: str, text: str | None) -> Markup:
    """One timeline entry, rendered by its autoescaped template once: events never change after they
    are written, and an open page re-reads its timeline on every change."""
    shown = _Shown(id=event.id, kind=event.kind, at=event.at, actor=event.actor, source=event.source)
    return Markup(_timeline_item_html(shown, summary, text))  # noqa: S704 - autoescaped template output


_ENV.globals.update(asset_version=ASSET_VERSION, timeline_item=_timeline_item)


def render(template: str, **context: Any) -> str:
    return _ENV.get_template(template).render(**context)


def html(body: str, status_code: int = 200, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        body,
        status_code=status_code,
        media_type="text/html; charset=utf-8",
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


async def page(
    request: AnyRequest, template: str, *, status_code: int = 200, **context: Any
) -> Response[str]:
    """A whole page: the template plus who is logged in and the one-time flash message."""
    user: WebUser | None = await current_user(request)
    flash = None
    if user is not None and user.session.flash:
        flash = user.session.flash
        async with DATABASE.of(request).connection() as conn:
            await sessions.set_flash(conn, user.token, None)
    body = render(template, user=user, flash=flash, now=WEB_CLOCK.of(request)(), **context)
    response = html(body, status_code)
    with_new_session(request, response)
    return response

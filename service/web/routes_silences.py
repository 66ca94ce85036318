"""Silences and maintenance windows in the console: the same Silences service the v2 API and Slack use.

Creating or expiring a silence needs a responder and the session's CSRF token; Slack hears of it
from the announcer, as for a silence made anywhere else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response

from service.adapters.postgres.database import DATABASE
from service.domain.durations import format_duration, parse_duration
from service.domain.maintenance_windows import schedule
from service.domain.silence_matchers import MatcherError, parse_matchers, render
from service.domain.silences import SilenceState
from service.silences import store
from service.silences.service import SILENCES, SilenceNotFound, SilenceRefused, Silences
from service.silences.snapshot import MUTER, one_off
from service.web.answers import apply_change
from service.web.auth import WebUser, require_user
from service.web.render import page

AnyRequest = Request[Any, Any, Any]
PATH = "/silences"
MAX_DURATION = timedelta(days=30)
EXPIRED_SHOWN = 50
LOOKAHEAD = timedelta(days=62)


def _silences(request: AnyRequest) -> Silences:
    silences = SILENCES.maybe(request)
    if silences is None:
        raise LookupError("silences are not available in this deployment")
    return silences


@get(PATH, include_in_schema=False)
async def silences_page(request: AnyRequest) -> Response[str]:
    await require_user(request)
    service = _silences(request)
    now = service.clock()
    all_silences = await service.listing()
    by_state: dict[SilenceState, list[Any]] = {state: [] for state in SilenceState}
    for silence in all_silences:
        by_state[silence.state(now)].append(silence)
    by_state[SilenceState.ACTIVE].sort(key=lambda s: s.ends_at)
    by_state[SilenceState.PENDING].sort(key=lambda s: s.starts_at)
    async with DATABASE.of(request).connection() as conn:
        windows = one_off(await store.windows_between(conn, now, now + LOOKAHEAD))
    open_now, coming = schedule(MUTER.of(request).policy.windows, windows, now)
    return await page(
        request,
        "silences.html",
        nav="silences",
        active=by_state[SilenceState.ACTIVE],
        pending=by_state[SilenceState.PENDING],
        expired=by_state[SilenceState.EXPIRED][:EXPIRED_SHOWN],
        expired_total=len(by_state[SilenceState.EXPIRED]),
        windows_open=open_now,
        windows_coming=sorted(coming, key=lambda w: w.starts_at or now),
        render_matchers=render,
    )


@post(PATH, include_in_schema=False)
async def silence_create(request: AnyRequest) -> Redirect:
    async def change(user: WebUser, form: dict[str, str]) -> str:
        text = form.get("matchers", "").strip()
        if not text:
            raise ValueError("matchers: say which alerts, e.g. alertname=DiskFull service=payments")
        try:
            matchers = parse_matchers(text)
        except MatcherError as exc:
            raise ValueError(f"matchers: {exc}") from None
        duration = _duration(form.get("duration", "").strip())
        comment = form.get("comment", "").strip()
        if not comment:
            raise ValueError("comment: say why, so the next person knows whether it can end")
        service = _silences(request)
        now = service.clock()
        silence_id = await service.upsert(
            matchers=matchers, starts_at=now, ends_at=now + duration, created_by=user.name, comment=comment
        )
        return f"Silenced {render(matchers)} for {format_duration(duration)} (id {silence_id})"

    return await apply_change(request, PATH, change, expected=(SilenceRefused, ValueError, LookupError))


def _duration(raw: str) -> timedelta:
    try:
        duration = parse_duration(raw)
    except ValueError:
        raise ValueError(f"duration: {raw!r} is not a duration (e.g. 30m, 2h, 1d)") from None
    if duration <= timedelta(0) or duration > MAX_DURATION:
        raise ValueError("duration: between 1 minute and 30 days")
    return duration


@post(PATH + "/windows", include_in_schema=False)
async def window_start(request: AnyRequest) -> Redirect:
    """A one-off maintenance window from now, as `/incident maintenance start 2h service=…` in Slack."""

    async def change(user: WebUser, form: dict[str, str]) -> str:
        name = form.get("name", "").strip()[:200]
        if not name:
            raise ValueError("name: say what the maintenance is, e.g. 'payments db failover'")
        text = form.get("matchers", "").strip()
        try:
            matchers = parse_matchers(text) if text else []
        except MatcherError as exc:
            raise ValueError(f"matchers: {exc}") from None
        duration = _duration(form.get("duration", "").strip())
        service = _silences(request)
        now = service.clock()
        await service.start_window(
            name=name, matchers=matchers, starts_at=now, ends_at=now + duration, owner=user.name
        )
        scope = render(matchers) if matchers else "every alert"
        return f"Maintenance '{name}' started: {scope} is muted for {format_duration(duration)}"

    return await apply_change(request, PATH, change, expected=(SilenceRefused, ValueError, LookupError))


@post(PATH + "/{silence_id:str}/expire", include_in_schema=False)
async def silence_expire(request: AnyRequest, silence_id: FromPath[str]) -> Redirect:
    async def change(user: WebUser, _form: dict[str, str]) -> str:
        silence = await _silences(request).expire(silence_id[:100], user.name)
        return f"Silence {render(silence.matchers)} ended; alerts it held page again if they still fire"

    return await apply_change(request, PATH, change, expected=(SilenceNotFound, SilenceRefused, LookupError))

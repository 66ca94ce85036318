"""GET /api/v1/maintenance (open and coming windows) and POST /api/v1/maintenance (a one-off window)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ValidationException
from litestar.params import JSONBody

from service.adapters.postgres.database import DATABASE
from service.domain.maintenance_windows import WindowView, schedule
from service.domain.silence_matchers import MatcherError, parse_matchers
from service.http.auth import api_actor, can_read, can_write
from service.silences import store
from service.silences.service import SILENCES, SilenceRefused
from service.silences.snapshot import MUTER, one_off

AnyRequest = Request[Any, Any, Any]
LOOKAHEAD = timedelta(days=62)


class MaintenanceView(msgspec.Struct, frozen=True):
    active: list[WindowView]
    upcoming: list[WindowView]


class NewWindow(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    duration_minutes: Annotated[int, msgspec.Meta(ge=1, le=7 * 24 * 60)]
    matchers: str = ""
    starts_at: datetime | None = None


class CreatedWindow(msgspec.Struct, frozen=True):
    id: str


class MaintenanceController(Controller):
    path = "/api/v1/maintenance"
    tags = ["maintenance"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("", guards=[can_read])
    async def listing(self, request: AnyRequest) -> MaintenanceView:
        silences = SILENCES.of(request)
        muter = MUTER.of(request)
        now = silences.clock()
        async with DATABASE.of(request).connection() as conn:
            windows = one_off(await store.windows_between(conn, now, now + LOOKAHEAD))
        active, upcoming = schedule(muter.policy.windows, windows, now)
        return MaintenanceView(active=active, upcoming=upcoming)

    @post("", guards=[can_write], status_code=201)
    async def create(self, request: AnyRequest, data: JSONBody[NewWindow]) -> Response[CreatedWindow]:
        silences = SILENCES.of(request)
        try:
            matchers = parse_matchers(data.matchers) if data.matchers.strip() else []
        except MatcherError as exc:
            raise ValidationException(f"matchers: {exc}") from None
        starts = data.starts_at or silences.clock()
        try:
            window_id = await silences.start_window(
                name=data.name,
                matchers=matchers,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=data.duration_minutes),
                owner=api_actor(request).name,
            )
        except SilenceRefused as exc:
            raise ValidationException(str(exc)) from None
        return Response(CreatedWindow(id=window_id), status_code=201)

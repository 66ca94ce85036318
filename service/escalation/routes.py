"""Escalation over HTTP: escalate an incident now, and show who is on call for a service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK

from service.domain.durations import format_duration
from service.escalation.service import ESCALATION, EscalationService
from service.http.auth import api_actor, can_read, can_write


class EscalateResponse(msgspec.Struct, frozen=True, kw_only=True):
    incident_id: int
    level: int
    level_name: str
    reason: str
    targets: dict[str, list[str]]
    next_kind: str | None
    next_level: int | None
    next_due_at: datetime | None


class OncallLevelView(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    name: str
    delay_seconds: int
    delay: str
    targets: dict[str, list[str]]


class OncallView(msgspec.Struct, frozen=True, kw_only=True):
    policy: str
    labels: dict[str, str]
    levels: list[OncallLevelView]


def _service(request: Request[Any, Any, Any]) -> EscalationService:
    return ESCALATION.of(request)


@post(
    "/api/v1/incidents/{incident_id:int}/escalate",
    guards=[can_write],
    status_code=HTTP_200_OK,
    tags=["escalation"],
)
async def escalate(request: Request[Any, Any, Any], incident_id: FromPath[int]) -> EscalateResponse:
    """Tell the next escalation level now (404 unknown incident, 409 resolved)."""
    info = await _service(request).escalate_now(incident_id, api_actor(request))
    return EscalateResponse(**msgspec.structs.asdict(info))


@get("/api/v1/oncall", guards=[can_read], tags=["escalation"])
async def oncall(
    request: Request[Any, Any, Any], service: FromQuery[str | None] = None, team: FromQuery[str | None] = None
) -> OncallView:
    """The escalation levels and their targets for incidents labelled with this service and/or team."""
    labels = {k: v for k, v in (("service", service), ("team", team)) if v}
    levels = _service(request).oncall(labels)
    return OncallView(
        policy=levels[0].policy if levels else "",
        labels=labels,
        levels=[
            OncallLevelView(
                number=lv.number,
                name=lv.name,
                delay_seconds=int(lv.delay.total_seconds()),
                delay=format_duration(lv.delay),
                targets=lv.targets.as_data(),
            )
            for lv in levels
        ],
    )

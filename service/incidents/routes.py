"""Incidents over HTTP: a thin layer that validates, calls IncidentService, and shapes the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ExceptionHandlersMap

from service.dependencies import Key
from service.domain.incidents import Action, InvalidTransition, Status
from service.domain.severity import Severity, SeverityPolicy
from service.http.auth import api_actor, can_read, can_write
from service.http.errors import conflict, not_found
from service.incidents.details import DETAIL_CONTRIBUTORS, contributed
from service.incidents.service import INCIDENTS, Conflict, IncidentNotFound, IncidentService
from service.incidents.views import (
    ActionRequest,
    AssignRequest,
    DeclareRequest,
    DeclareResponse,
    EventView,
    IncidentDetail,
    IncidentPage,
    IncidentView,
    NoteRequest,
    SeverityRequest,
)

# Every door (these routes, escalation's, Slack's) raises these; app.py installs them app-wide.
INCIDENT_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    IncidentNotFound: not_found,
    InvalidTransition: conflict,
    Conflict: conflict,
}

PUBLIC_URL: Key[str] = Key("public_url")
SEVERITY_POLICY: Key[SeverityPolicy] = Key("severity_policy")

_STATUS_FILTERS = {
    "open": [Status.TRIGGERED, Status.ACKNOWLEDGED, Status.MITIGATED],
    "acked": [Status.ACKNOWLEDGED],
    **{s.value: [s] for s in Status},
}


def _service(request: Request[Any, Any, Any]) -> IncidentService:
    return INCIDENTS.of(request)


def _base_url(request: Request[Any, Any, Any]) -> str:
    return PUBLIC_URL.of(request)


def _parse_statuses(raw: str | None) -> list[Status] | None:
    if not raw or raw == "all":
        return None
    statuses: list[Status] = []
    for part in raw.split(","):
        key = part.strip().lower()
        if key not in _STATUS_FILTERS:
            choices = ", ".join(s.value for s in Status)
            raise ValidationException(detail=f"status: unknown value {part!r}; use open, all, or {choices}")
        statuses.extend(_STATUS_FILTERS[key])
    return statuses


def _parse_severities(raw: str | None) -> list[Severity] | None:
    if not raw:
        return None
    try:
        return [Severity.parse(part) for part in raw.split(",")]
    except ValueError as exc:
        raise ValidationException(detail=f"severity: {exc}") from None


async def incident_detail(request: Request[Any, Any, Any], incident_id: int) -> IncidentDetail:
    incident, events = await _service(request).get(incident_id)
    policy = SEVERITY_POLICY.of(request)
    extras = await contributed(DETAIL_CONTRIBUTORS.of(request), incident)
    return IncidentDetail(
        incident=IncidentView.of(incident, _base_url(request)),
        timeline=[EventView.of(e) for e in events],
        response_target_seconds=int(policy.response_target(incident.severity).total_seconds()),
        extras=extras,
    )


class IncidentController(Controller):
    path = "/api/v1/incidents"
    tags = ["incidents"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/", guards=[can_read])
    async def list_incidents(
        self,
        request: Request[Any, Any, Any],
        status: FromQuery[str | None] = None,
        severity: FromQuery[str | None] = None,
        since: FromQuery[datetime | None] = None,
        before: Annotated[int | None, QueryParameter(gt=0, description="id cursor from next_before")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> IncidentPage:
        """Newest first; pass `next_before` back as `before` for the next page."""
        items = await _service(request).list(
            statuses=_parse_statuses(status),
            severities=_parse_severities(severity),
            since=since,
            before_id=before,
            limit=limit + 1,
        )
        more = len(items) > limit
        items = items[:limit]
        return IncidentPage(
            items=[IncidentView.of(i, _base_url(request)) for i in items],
            next_before=items[-1].id if more and items else None,
        )

    @post(
        "/",
        guards=[can_write],
        status_code=HTTP_201_CREATED,
        responses={HTTP_200_OK: ResponseSpec(DeclareResponse, description="Attached to the open incident")},
    )
    async def declare(
        self, request: Request[Any, Any, Any], data: JSONBody[DeclareRequest]
    ) -> Response[DeclareResponse]:
        """Declare an incident; with the dedup_key of an open one it attaches instead (200, created=false)."""
        result = await _service(request).declare(
            title=data.title,
            severity=Severity.parse(data.severity),
            actor=api_actor(request),
            dedup_key=data.dedup_key,
            labels=dict(data.labels),
            description=data.description,
        )
        body = DeclareResponse(
            incident=IncidentView.of(result.incident, _base_url(request)), created=result.created
        )
        return Response(body, status_code=HTTP_201_CREATED if result.created else HTTP_200_OK)

    @get("/{incident_id:int}", guards=[can_read])
    async def show(self, request: Request[Any, Any, Any], incident_id: FromPath[int]) -> IncidentDetail:
        return await incident_detail(request, incident_id)

    async def _act(
        self, request: Request[Any, Any, Any], incident_id: int, action: Action, data: ActionRequest | None
    ) -> IncidentDetail:
        await _service(request).act(incident_id, action, api_actor(request), note=data.note if data else None)
        return await incident_detail(request, incident_id)

    @post("/{incident_id:int}/acknowledge", guards=[can_write], status_code=HTTP_200_OK)
    async def acknowledge(
        self,
        request: Request[Any, Any, Any],
        incident_id: FromPath[int],
        data: JSONBody[ActionRequest | None] = None,
    ) -> IncidentDetail:
        return await self._act(request, incident_id, Action.ACKNOWLEDGE, data)

    @post("/{incident_id:int}/unacknowledge", guards=[can_write], status_code=HTTP_200_OK)
    async def unacknowledge(
        self,
        request: Request[Any, Any, Any],
        incident_id: FromPath[int],
        data: JSONBody[ActionRequest | None] = None,
    ) -> IncidentDetail:
        return await self._act(request, incident_id, Action.UNACKNOWLEDGE, data)

    @post("/{incident_id:int}/mitigate", guards=[can_write], status_code=HTTP_200_OK)
    async def mitigate(
        self,
        request: Request[Any, Any, Any],
        incident_id: FromPath[int],
        data: JSONBody[ActionRequest | None] = None,
    ) -> IncidentDetail:
        return await self._act(request, incident_id, Action.MITIGATE, data)

    @post("/{incident_id:int}/resolve", guards=[can_write], status_code=HTTP_200_OK)
    async def resolve(
        self,
        request: Request[Any, Any, Any],
        incident_id: FromPath[int],
        data: JSONBody[ActionRequest | None] = None,
    ) -> IncidentDetail:
        return await self._act(request, incident_id, Action.RESOLVE, data)

    @post("/{incident_id:int}/reopen", guards=[can_write], status_code=HTTP_200_OK)
    async def reopen(
        self,
        request: Request[Any, Any, Any],
        incident_id: FromPath[int],
        data: JSONBody[ActionRequest | None] = None,
    ) -> IncidentDetail:
        return await self._act(request, incident_id, Action.REOPEN, data)

    @post("/{incident_id:int}/severity", guards=[can_write], status_code=HTTP_200_OK)
    async def severity(
        self, request: Request[Any, Any, Any], incident_id: FromPath[int], data: JSONBody[SeverityRequest]
    ) -> IncidentDetail:
        await _service(request).change_severity(
            incident_id, Severity.parse(data.severity), api_actor(request), reason=data.reason
        )
        return await incident_detail(request, incident_id)

    @post("/{incident_id:int}/assign", guards=[can_write], status_code=HTTP_200_OK)
    async def assign(
        self, request: Request[Any, Any, Any], incident_id: FromPath[int], data: JSONBody[AssignRequest]
    ) -> IncidentDetail:
        await _service(request).assign(incident_id, data.assignee, api_actor(request))
        return await incident_detail(request, incident_id)

    @post("/{incident_id:int}/notes", guards=[can_write], status_code=HTTP_201_CREATED)
    async def add_note(
        self, request: Request[Any, Any, Any], incident_id: FromPath[int], data: JSONBody[NoteRequest]
    ) -> EventView:
        event = await _service(request).add_note(incident_id, data.text, api_actor(request))
        return EventView.of(event)

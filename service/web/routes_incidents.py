"""The incidents list, the incident page, its live updates and its actions.

Every action goes through IncidentService (or EscalationService for "escalate now"),
exactly as the API and Slack do; the actor is the logged-in person.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, ServerSentEvent, ServerSentEventMessage

from service.adapters.postgres.database import DATABASE
from service.domain.incidents import Action
from service.domain.severity import Severity
from service.escalation.service import ESCALATION
from service.incidents import listing
from service.incidents.service import INCIDENTS, IncidentService
from service.notifications.routes import retry_dead_letter
from service.web.answers import apply_change
from service.web.auth import WebUser, require_user
from service.web.change_feed import WEB_FEED
from service.web.incident_page import incident_context
from service.web.options import WEB_CLOCK, WEB_OPTIONS
from service.web.render import html, page, render
from service.web.service_names import SERVICE_NAMES
from service.web.views import SEVERITY_WORD

AnyRequest = Request[Any, Any, Any]


def _incidents(request: AnyRequest) -> IncidentService:
    return INCIDENTS.of(request)


@get("/", include_in_schema=False)
async def incidents_list(request: AnyRequest) -> Response[str]:
    await require_user(request)
    params = {k: str(v) for k, v in request.query_params.items()}
    filters = listing.parse_filters(params)
    cursor = listing.parse_cursor(params.get("after"))
    async with DATABASE.of(request).connection() as conn:
        found = await listing.search(conn, filters, cursor)
        services = await SERVICE_NAMES.of(request).get(conn)
    return await page(
        request,
        "list.html",
        filters=filters,
        found=found,
        services=services,
        first_page=cursor is None,
        statuses=listing.STATUS_CHOICES,
        severities=[s.label for s in Severity],
        severity_word=SEVERITY_WORD,
    )


def _page_path(incident_id: int) -> str:
    return f"/incidents/{incident_id}"


@get("/incidents/{incident_id:int}", include_in_schema=False)
async def incident_page(request: AnyRequest, incident_id: FromPath[int]) -> Response[str]:
    await require_user(request)
    context = await incident_context(request, incident_id, with_chart=True)
    return await page(request, "incident.html", **context)


@get("/incidents/{incident_id:int}/live", include_in_schema=False)
async def incident_live(request: AnyRequest, incident_id: FromPath[int]) -> Response[str]:
    """The page's live regions alone; the script swaps them in when the stream says something changed."""
    user = await require_user(request)
    context = await incident_context(request, incident_id)
    return html(render("incident_live.html", user=user, now=WEB_CLOCK.of(request)(), **context))


@get("/incidents/{incident_id:int}/stream", include_in_schema=False)
async def incident_stream(request: AnyRequest, incident_id: FromPath[int]) -> ServerSentEvent:
    """Server-sent events: `changed` whenever the incident changes, from any replica.

    The stream ends after `stream_seconds`; the browser reconnects by itself, which
    re-checks the session, and the script re-reads the page on every (re)connect.
    """
    await require_user(request)
    await _incidents(request).get(incident_id)  # 404 before streaming
    feed = WEB_FEED.of(request)
    lifetime = WEB_OPTIONS.of(request).stream_seconds
    heartbeat = WEB_OPTIONS.of(request).heartbeat_seconds

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        async with feed.subscribe(incident_id) as queue:
            yield ServerSentEventMessage(event="hello", data=str(incident_id), retry=1000)
            while loop.time() < deadline:
                reason = await feed.next_change(queue, min(heartbeat, max(deadline - loop.time(), 0.01)))
                if reason is None:
                    yield ServerSentEventMessage(comment="keep-alive")
                else:
                    yield ServerSentEventMessage(event="changed", data=reason)

    return ServerSentEvent(events(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


_ACTION_DONE = {
    Action.ACKNOWLEDGE: "acknowledged",
    Action.UNACKNOWLEDGE: "unacknowledged",
    Action.MITIGATE: "marked mitigated",
    Action.RESOLVE: "resolved",
    Action.REOPEN: "reopened",
}


@post("/incidents/{incident_id:int}/action", include_in_schema=False)
async def incident_action(request: AnyRequest, incident_id: FromPath[int]) -> Redirect:
    async def change(user: WebUser, form: dict[str, str]) -> str:
        action = Action(form.get("action", ""))
        note = form.get("note", "").strip() or None
        if action is Action.RESOLVE and note is None:
            raise ValueError("resolving needs a note: say what fixed it")
        incident = await _incidents(request).act(incident_id, action, user.actor, note=note)
        return f"{incident.human_id} {_ACTION_DONE[action]}"

    return await apply_change(request, _page_path(incident_id), change)


@post("/incidents/{incident_id:int}/severity", include_in_schema=False)
async def incident_severity(request: AnyRequest, incident_id: FromPath[int]) -> Redirect:
    async def change(user: WebUser, form: dict[str, str]) -> str:
        reason = form.get("reason", "").strip()
        if not reason:
            raise ValueError("changing the severity needs a reason")
        severity = Severity.parse(form.get("severity", ""))
        incident = await _incidents(request).change_severity(incident_id, severity, user.actor, reason=reason)
        return f"{incident.human_id} is now {severity.label}"

    return await apply_change(request, _page_path(incident_id), change)


@post("/incidents/{incident_id:int}/assign", include_in_schema=False)
async def incident_assign(request: AnyRequest, incident_id: FromPath[int]) -> Redirect:
    async def change(user: WebUser, form: dict[str, str]) -> str:
        assignee = form.get("assignee", "").strip()[:200]
        if not assignee:
            raise ValueError("assign to whom? type a name")
        incident = await _incidents(request).assign(incident_id, assignee, user.actor)
        return f"{incident.human_id} assigned to {assignee}"

    return await apply_change(request, _page_path(incident_id), change)


@post("/incidents/{incident_id:int}/notes", include_in_schema=False)
async def incident_note(request: AnyRequest, incident_id: FromPath[int]) -> Redirect:
    async def change(user: WebUser, form: dict[str, str]) -> str:
        text = form.get("text", "").strip()
        if not text:
            raise ValueError("the note is empty")
        if len(text) > 20_000:
            raise ValueError("the note is longer than 20,000 characters")
        await _incidents(request).add_note(incident_id, text, user.actor)
        return "Note added"

    return await apply_change(request, _page_path(incident_id), change)


@post("/incidents/{incident_id:int}/escalate", include_in_schema=False)
async def incident_escalate(request: AnyRequest, incident_id: FromPath[int]) -> Redirect:
    async def change(user: WebUser, _form: dict[str, str]) -> str:
        escalation = ESCALATION.maybe(request)
        if escalation is None:
            raise LookupError("escalation is not running here")
        info = await escalation.escalate_now(incident_id, user.actor)
        return f"Escalated to level {info.level} ({info.level_name})"

    return await apply_change(request, _page_path(incident_id), change)


@post("/incidents/{incident_id:int}/notifications/{notification_id:int}/retry", include_in_schema=False)
async def notification_retry(
    request: AnyRequest, incident_id: FromPath[int], notification_id: FromPath[int]
) -> Redirect:
    """Send a dead letter again: the same call as POST /api/v1/notifications/{id}/retry."""

    async def change(_user: WebUser, _form: dict[str, str]) -> str:
        db, clock = DATABASE.of(request), WEB_CLOCK.of(request)
        await retry_dead_letter(db, clock, notification_id, incident_id)
        return f"Retrying notification {notification_id}"

    return await apply_change(request, _page_path(incident_id), change)

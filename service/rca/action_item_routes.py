"""Action items over HTTP: per incident under /api/v1/incidents/{id}/action-items, and across incidents.

msgspec validates bodies and names the offending field in its 400 (`... - at $.due_on`); rules it
cannot express (a link must be an http(s) URL, a title not blank) are InvalidItem, a 400 naming it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED
from litestar.types import ExceptionHandlersMap

from service.domain.action_items import LINK_MAX, OWNER_MAX, TITLE_MAX, ActionItem, ItemStatus
from service.http.auth import can_read, can_write
from service.http.errors import error_response, not_found
from service.rca.action_items import ACTION_ITEMS, ActionItems, InvalidItem, ItemNotFound
from service.rca.routes import actor_from_request

AnyRequest = Request[Any, Any, Any]
StatusName = Literal["open", "done", "dropped"]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=TITLE_MAX)]
Owner = Annotated[str, msgspec.Meta(max_length=OWNER_MAX)]
Link = Annotated[str, msgspec.Meta(max_length=LINK_MAX)]


class CreateItem(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    owner: Owner = ""
    due_on: date | None = None  # default: when the RCA must be complete (48 h after the incident ended)
    link: Link = ""


class UpdateItem(msgspec.Struct, forbid_unknown_fields=True):
    title: Title | None = None
    owner: Owner | None = None
    due_on: date | None = None
    status: StatusName | None = None
    link: Link | None = None


class ItemView(msgspec.Struct):
    id: int
    ref: str
    incident_id: int
    human_id: str
    title: str
    owner: str
    due_on: date
    status: str
    link: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None

    @classmethod
    def of(cls, item: ActionItem) -> ItemView:
        return cls(
            id=item.id,
            ref=item.ref,
            incident_id=item.incident_id,
            human_id=item.human_id,
            title=item.title,
            owner=item.owner,
            due_on=item.due_on,
            status=item.status.value,
            link=item.link,
            created_by=item.created_by,
            created_at=item.created_at,
            updated_at=item.updated_at,
            closed_at=item.closed_at,
        )


class ItemList(msgspec.Struct):
    items: list[ItemView]


def _invalid(_: AnyRequest, exc: Exception) -> Response[dict[str, object]]:
    assert isinstance(exc, InvalidItem)
    return error_response(400, str(exc), field=exc.field)


ACTION_ITEM_EXCEPTION_HANDLERS: ExceptionHandlersMap = {ItemNotFound: not_found, InvalidItem: _invalid}


def _service(request: AnyRequest) -> ActionItems:
    return ACTION_ITEMS.of(request)


class IncidentActionItems(Controller):
    path = "/api/v1/incidents/{incident_id:int}/action-items"
    tags = ["action items"]  # noqa: RUF012 - Litestar reads these class attributes
    exception_handlers = ACTION_ITEM_EXCEPTION_HANDLERS

    @get("/", guards=[can_read])
    async def list_items(self, request: AnyRequest, incident_id: FromPath[int]) -> ItemList:
        """The incident's action items, oldest first."""
        found = await _service(request).for_incident(incident_id)
        return ItemList([ItemView.of(i) for i in found])

    @post("/", guards=[can_write], status_code=HTTP_201_CREATED)
    async def create(
        self, request: AnyRequest, incident_id: FromPath[int], data: JSONBody[CreateItem]
    ) -> ItemView:
        """Add an action item; without `due_on` it is due when the RCA must be complete."""
        item = await _service(request).create(
            incident_id,
            title=data.title,
            owner=data.owner,
            due_on=data.due_on,
            link=data.link,
            actor=actor_from_request(request),
        )
        return ItemView.of(item)

    @patch("/{item_id:int}", guards=[can_write])
    async def update(
        self,
        request: AnyRequest,
        incident_id: FromPath[int],
        item_id: FromPath[int],
        data: JSONBody[UpdateItem],
    ) -> ItemView:
        """Change any of title, owner, due_on, status (open, done, dropped) and link."""
        service = _service(request)
        if (await service.get(item_id)).incident_id != incident_id:
            raise ItemNotFound(item_id)
        item = await service.update(
            item_id,
            actor_from_request(request),
            title=data.title,
            owner=data.owner,
            due_on=data.due_on,
            status=ItemStatus(data.status) if data.status else None,
            link=data.link,
        )
        return ItemView.of(item)


class AllActionItems(Controller):
    path = "/api/v1/action-items"
    tags = ["action items"]  # noqa: RUF012 - Litestar reads these class attributes
    exception_handlers = ACTION_ITEM_EXCEPTION_HANDLERS

    @get("/", guards=[can_read])
    async def list_all(
        self,
        request: AnyRequest,
        status: Annotated[
            str | None, QueryParameter(description="open, done, dropped, or a comma list")
        ] = None,
        due: Annotated[bool, QueryParameter(description="only open items due today or earlier")] = False,
    ) -> Response[Any]:
        """Action items across incidents, the soonest due first."""
        service = _service(request)
        if due:
            return Response(ItemList([ItemView.of(i) for i in await service.due()]))
        statuses: list[ItemStatus] | None = None
        if status:
            try:
                statuses = [ItemStatus(s.strip()) for s in status.split(",") if s.strip()]
            except ValueError:
                return error_response(400, "status: use open, done, dropped or a comma list", field="status")
        return Response(ItemList([ItemView.of(i) for i in await service.listing(statuses)]))

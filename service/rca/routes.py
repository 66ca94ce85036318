"""RCA documents over HTTP, under /api/v1/incidents/{id}/rca.

Thin: validate, call RcaService, shape the answer.
Reads need the read right and writes the write right, with the same guards as
the incidents API. The HTML in responses is always sanitised; the Markdown is
returned as stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, Request, Response, get, post, put
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import ExceptionHandlersMap

from service.domain.incidents import Actor
from service.domain.rca_markdown import MAX_DOCUMENT_CHARS
from service.http.auth import STATE_KEY, api_actor, can_read, can_write
from service.http.errors import error_response, not_found
from service.rca.markdown_html import markdown_to_safe_html
from service.rca.service import (
    RCA,
    ChartNotFound,
    InvalidDocument,
    RcaNotFound,
    RcaService,
    RcaVersionNotFound,
    RcaWrite,
    StaleVersion,
    chart_path,
)
from service.rca.store import RcaDocument, RcaVersionInfo
from service.rca.templates import TemplateError

log = structlog.get_logger(__name__)

AnyRequest = Request[Any, Any, Any]
# The chart is served as its own document: no script may run in it, whatever its labels say.
CHART_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


def actor_from_request(request: AnyRequest) -> Actor:
    """Who is editing: an authenticated user if auth middleware set one, else the API token's name.

    Meant to be replaced by the composition root once users exist; only this function knows.
    """
    user = request.scope.get("user")
    if isinstance(user, Actor):
        return user
    name = user if isinstance(user, str) else getattr(user, "name", None)
    if isinstance(name, str) and name:
        return Actor(name=name, source="api")
    if request.state.get(STATE_KEY) is not None:
        return api_actor(request)
    return Actor(name="api", source="api")


MAX_VERSION = 2**31 - 1  # versions are PostgreSQL integers


class SaveRequest(msgspec.Struct, forbid_unknown_fields=True):
    markdown: Annotated[str, msgspec.Meta(max_length=MAX_DOCUMENT_CHARS)]
    base_version: Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)]


class RcaView(msgspec.Struct):
    incident_id: int
    human_id: str
    version: int
    markdown: str
    html: str
    author: str
    author_source: str
    reason: str
    template: str
    created_at: datetime
    updated_at: datetime
    chart_url: str | None
    new_version: bool
    action_items_created: list[str] = msgspec.field(default_factory=list)
    action_item_problems: list[str] = msgspec.field(default_factory=list)

    @classmethod
    def of(
        cls,
        document: RcaDocument,
        *,
        new_version: bool = False,
        items_created: tuple[str, ...] = (),
        item_problems: tuple[str, ...] = (),
    ) -> RcaView:
        return cls(
            incident_id=document.incident_id,
            human_id=document.human_id,
            version=document.version,
            markdown=document.markdown,
            html=markdown_to_safe_html(document.markdown),
            author=document.author,
            author_source=document.author_source,
            reason=document.reason,
            template=document.template,
            created_at=document.created_at,
            updated_at=document.updated_at,
            chart_url=chart_path(document.incident_id) if document.has_chart else None,
            new_version=new_version,
            action_items_created=list(items_created),
            action_item_problems=list(item_problems),
        )


class VersionList(msgspec.Struct):
    incident_id: int
    current_version: int
    versions: list[RcaVersionInfo]


def _service(request: AnyRequest) -> RcaService:
    return RCA.of(request)


def _written(result: RcaWrite) -> RcaView:
    return RcaView.of(
        result.document,
        new_version=result.new_version,
        items_created=result.items_created,
        item_problems=result.item_problems,
    )


def _stale(_: AnyRequest, exc: Exception) -> Response[dict[str, object]]:
    assert isinstance(exc, StaleVersion)
    return error_response(409, str(exc), current_version=exc.current_version, base_version=exc.base_version)


def _invalid(_: AnyRequest, exc: Exception) -> Response[dict[str, object]]:
    return error_response(400, str(exc))


def _template(_: AnyRequest, exc: Exception) -> Response[dict[str, object]]:
    """A broken template is the operator's to fix; say exactly where, and that nothing was stored."""
    assert isinstance(exc, TemplateError)
    log.error("rca_template_error", template=exc.template, line=exc.line)
    return error_response(500, f"{exc}; no RCA version was stored", template=exc.template, line=exc.line)


RCA_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    RcaNotFound: not_found,
    RcaVersionNotFound: not_found,
    ChartNotFound: not_found,
    StaleVersion: _stale,
    InvalidDocument: _invalid,
    TemplateError: _template,
}


class RcaController(Controller):
    path = "/api/v1/incidents/{incident_id:int}/rca"
    tags = ["rca"]  # noqa: RUF012 - Litestar reads these class attributes
    exception_handlers = RCA_EXCEPTION_HANDLERS

    @post(
        "/",
        guards=[can_write],
        status_code=HTTP_201_CREATED,
        responses={HTTP_200_OK: ResponseSpec(RcaView, description="The RCA already existed: unchanged")},
    )
    async def generate(self, request: AnyRequest, incident_id: FromPath[int]) -> Response[RcaView]:
        """Generate the RCA from the incident's timeline (201); if one exists, return it unchanged (200)."""
        result = await _service(request).generate(incident_id, actor_from_request(request))
        return Response(_written(result), status_code=HTTP_201_CREATED if result.new_version else HTTP_200_OK)

    @get("/", guards=[can_read])
    async def show(self, request: AnyRequest, incident_id: FromPath[int]) -> RcaView:
        return RcaView.of(await _service(request).get(incident_id))

    @put("/", guards=[can_write])
    async def save(
        self, request: AnyRequest, incident_id: FromPath[int], data: JSONBody[SaveRequest]
    ) -> RcaView:
        """Save an edit as a new version; 409 when `base_version` is not the current version."""
        result = await _service(request).save(
            incident_id, data.markdown, data.base_version, actor_from_request(request)
        )
        return _written(result)

    @post("/regenerate", guards=[can_write], status_code=HTTP_200_OK)
    async def regenerate(self, request: AnyRequest, incident_id: FromPath[int]) -> RcaView:
        """Refresh machine-owned sections from the timeline; text outside them is kept byte for byte."""
        return _written(await _service(request).regenerate(incident_id, actor_from_request(request)))

    @get("/versions", guards=[can_read])
    async def versions(self, request: AnyRequest, incident_id: FromPath[int]) -> VersionList:
        listed = await _service(request).versions(incident_id)
        return VersionList(incident_id=incident_id, current_version=listed[-1].version, versions=listed)

    @get("/diff", guards=[can_read], media_type="text/plain")
    async def diff(
        self,
        request: AnyRequest,
        incident_id: FromPath[int],
        from_version: Annotated[int | None, QueryParameter(name="from", ge=1, le=MAX_VERSION)] = None,
        to_version: Annotated[int | None, QueryParameter(name="to", ge=1, le=MAX_VERSION)] = None,
    ) -> Response[str]:
        """Unified diff between two versions (default: the current one against its predecessor)."""
        text = await _service(request).diff(incident_id, from_version, to_version)
        return Response(text, media_type="text/plain")

    @get("/export", guards=[can_read], media_type="text/markdown")
    async def export(self, request: AnyRequest, incident_id: FromPath[int]) -> Response[str]:
        filename, markdown = await _service(request).export_markdown(incident_id)
        return Response(
            markdown,
            media_type="text/markdown",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @get("/chart.svg", guards=[can_read], media_type="image/svg+xml")
    async def chart(self, request: AnyRequest, incident_id: FromPath[int]) -> Response[str]:
        svg = await _service(request).chart_svg(incident_id)
        return Response(
            svg,
            media_type="image/svg+xml",
            headers=CHART_HEADERS,
        )

"""The RCA editor: edit with a live sanitised preview, save, regenerate, history, export, chart.

A save based on an older version never overwrites the newer one: the page comes back
with both texts and their diff, and the author's text ready to merge and save on top.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response

from service.domain.rca_markdown import MAX_DOCUMENT_CHARS
from service.incidents.service import INCIDENTS, IncidentNotFound
from service.rca.routes import CHART_HEADERS
from service.rca.service import (
    RCA,
    ChartNotFound,
    InvalidDocument,
    RcaNotFound,
    RcaService,
    RcaVersionNotFound,
    StaleVersion,
)
from service.rca.store import RcaDocument
from service.rca.templates import TemplateError
from service.web.answers import apply_change, back, error_page, form_of
from service.web.auth import WebUser, check_csrf, require_responder, require_user
from service.web.rca_view import diff_rows, machine_sections, marked_html
from service.web.render import page

AnyRequest = Request[Any, Any, Any]


def _rca(request: AnyRequest) -> RcaService:
    return RCA.of(request)


def _path(incident_id: int) -> str:
    return f"/incidents/{incident_id}/rca"


async def _editor(
    request: AnyRequest,
    incident_id: int,
    document: RcaDocument | None,
    *,
    draft: str | None = None,
    base_version: int | None = None,
    conflict: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response[str]:
    incidents = INCIDENTS.of(request)
    incident, _ = await incidents.get(incident_id)
    text = draft if draft is not None else (document.markdown if document else "")
    return await page(
        request,
        "rca.html",
        status_code=status_code,
        incident=incident,
        document=document,
        text=text,
        base_version=base_version if base_version is not None else (document.version if document else 0),
        preview=marked_html(text, incident_id),
        sections=machine_sections(text),
        conflict=conflict,
    )


@get("/incidents/{incident_id:int}/rca", include_in_schema=False)
async def rca_editor(request: AnyRequest, incident_id: FromPath[int]) -> Response[str]:
    await require_user(request)
    try:
        document: RcaDocument | None = await _rca(request).get(incident_id)
    except RcaNotFound:
        document = None
    return await _editor(request, incident_id, document)


_RCA_ERRORS = (TemplateError, RcaNotFound, IncidentNotFound)


@post("/incidents/{incident_id:int}/rca/generate", include_in_schema=False)
async def rca_generate(request: AnyRequest, incident_id: FromPath[int]) -> Redirect:
    async def change(user: WebUser, _form: dict[str, str]) -> str:
        result = await _rca(request).generate(incident_id, user.actor)
        return "RCA generated from the timeline" if result.new_version else "The RCA already existed"

    return await apply_change(request, _path(incident_id), change, _RCA_ERRORS)


@post("/incidents/{incident_id:int}/rca/regenerate", include_in_schema=False)
async def rca_regenerate(request: AnyRequest, incident_id: FromPath[int]) -> Redirect:
    async def change(user: WebUser, _form: dict[str, str]) -> str:
        result = await _rca(request).regenerate(incident_id, user.actor)
        if not result.new_version:
            return "Nothing to regenerate: the machine sections are up to date"
        done = f"Regenerated the machine sections: version {result.document.version}"
        if result.lines_tied:
            return done + "; your text is unchanged except the action item ids and boxes in your task lines"
        return done + "; your text is unchanged"

    return await apply_change(request, _path(incident_id), change, _RCA_ERRORS)


@post("/incidents/{incident_id:int}/rca", include_in_schema=False)
async def rca_save(request: AnyRequest, incident_id: FromPath[int]) -> Response[Any]:
    form = await form_of(request)
    user = await require_responder(request, form)
    markdown = form.get("markdown", "").replace("\r\n", "\n")
    try:
        base = int(form.get("base_version", ""))
    except ValueError:
        return error_page(request, 400, "Bad form", "base_version: expected the version number you edited")
    try:
        result = await _rca(request).save(incident_id, markdown, base, user.actor)
    except StaleVersion as exc:
        theirs = await _rca(request).get(incident_id)
        conflict = {
            "base": base,
            "theirs": theirs,
            "theirs_html": marked_html(theirs.markdown, incident_id),
            "diff": diff_rows(theirs.markdown, markdown),
            "message": str(exc),
        }
        return await _editor(
            request,
            incident_id,
            theirs,
            draft=markdown,
            base_version=theirs.version,
            conflict=conflict,
            status_code=409,
        )
    except (InvalidDocument, RcaNotFound) as exc:
        return await back(request, user, _path(incident_id), f"Not saved: {exc}")
    message = f"Saved as version {result.document.version}" if result.new_version else "No changes to save"
    if result.items_created:
        message += (
            f". Action items created from your task lines: {', '.join(result.items_created)}"
            " (Regenerate lists them in the table and writes their ids into your lines)"
        )
    if result.item_problems:
        message += ". Not made action items: " + "; ".join(result.item_problems)
    return await back(request, user, _path(incident_id), message)


class PreviewRequest(msgspec.Struct):
    markdown: str


@post("/incidents/{incident_id:int}/rca/preview", include_in_schema=False)
async def rca_preview(request: AnyRequest, incident_id: FromPath[int]) -> Response[dict[str, str]]:
    """The sanitised preview the editor shows while typing (JSON, with the X-CSRF-Token header)."""
    user = await require_user(request)
    check_csrf(request, user, None)
    body = await request.body()
    if len(body) > MAX_DOCUMENT_CHARS * 4:
        return Response({"detail": "markdown: document too long"}, status_code=400)
    try:
        markdown = msgspec.json.decode(body, type=PreviewRequest).markdown
    except msgspec.ValidationError as exc:
        return Response({"detail": f"body: {exc}"}, status_code=400)
    except msgspec.DecodeError:
        return Response({"detail": 'body: expected JSON {"markdown": "..."}'}, status_code=400)
    return Response({"html": str(marked_html(markdown, incident_id))})


@get("/incidents/{incident_id:int}/rca/history", include_in_schema=False)
async def rca_history(
    request: AnyRequest,
    incident_id: FromPath[int],
    from_version: FromQuery[int | None] = None,
    to_version: FromQuery[int | None] = None,
) -> Response[Any]:
    await require_user(request)
    service = _rca(request)
    try:
        versions = await service.versions(incident_id)
        current = versions[-1].version
        to_v = to_version or current
        from_v = from_version or max(to_v - 1, 1)
        old, old_info = await service.version_text(incident_id, from_v)
        new, new_info = await service.version_text(incident_id, to_v)
    except (RcaNotFound, RcaVersionNotFound) as exc:
        return error_page(request, 404, "Not found", str(exc))
    incidents = INCIDENTS.of(request)
    incident, _ = await incidents.get(incident_id)
    return await page(
        request,
        "rca_history.html",
        incident=incident,
        versions=list(reversed(versions)),
        old_info=old_info,
        new_info=new_info,
        rows=diff_rows(old, new),
    )


@get("/incidents/{incident_id:int}/rca/export.md", include_in_schema=False)
async def rca_export(request: AnyRequest, incident_id: FromPath[int]) -> Response[Any]:
    await require_user(request)
    try:
        filename, markdown = await _rca(request).export_markdown(incident_id)
    except RcaNotFound as exc:
        return error_page(request, 404, "Not found", str(exc))
    return Response(
        markdown,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@get("/incidents/{incident_id:int}/rca/chart.svg", include_in_schema=False)
async def rca_chart(request: AnyRequest, incident_id: FromPath[int]) -> Response[Any]:
    await require_user(request)
    try:
        svg = await _rca(request).chart_svg(incident_id)
    except (RcaNotFound, ChartNotFound) as exc:
        return error_page(request, 404, "Not found", str(exc))
    return Response(
        svg,
        media_type="image/svg+xml",
        headers=CHART_HEADERS,
    )

"""The OpenAPI document says what the app does, checked by schemathesis in the test suite.

Litestar derives most of it from the handlers; what it cannot see is added here, once,
from the same facts the app acts on: which handlers carry a token guard, which request
bodies refuse unknown fields, which integers fit a bigint (`input_limits`), and the
error answers every operation can give (`errors`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)
from litestar.routes import HTTPRoute

from service.http.auth import can_read, can_write
from service.http.input_limits import MAX_INT, MIN_INT

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_GUARDS = (can_read, can_write)
_ERROR = Schema(
    type=OpenAPIType.OBJECT,
    required=["status_code", "detail"],
    properties={
        "status_code": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "extra": Schema(),
        "request_id": Schema(type=OpenAPIType.STRING),
    },
)
_WHY = {
    "400": "A field is missing, malformed, out of range, nested too deeply or holds a NUL character",
    "401": "No valid bearer token (or, for webhooks, no valid signature)",
    "403": "The token lacks the right this operation needs",
    "404": "No such incident, notification, document or silence",
    "409": "The change conflicts with the incident's current state",
    "413": "The request body is larger than 1 MiB",
    "500": "Unexpected error: logged with its traceback under the request id returned here",
    "503": "The database is unavailable; retry after the Retry-After delay",
}


# Alertmanager's API answers its own 400s and 404s with a bare JSON string (its published spec);
# the checks that run before any handler still answer in our error object.
_ALERTMANAGER_PREFIXES = ("/api/v2/", "/webhooks/alertmanager")
_ALERTMANAGER_ERRORS = {
    "400": Schema(one_of=[Schema(type=OpenAPIType.STRING), _ERROR]),
    "404": Schema(type=OpenAPIType.STRING),
}


def _error_response(status: str, path: str = "") -> OpenAPIResponse:
    schema = _ERROR
    if path.startswith(_ALERTMANAGER_PREFIXES):
        schema = _ALERTMANAGER_ERRORS.get(status, _ERROR)
    return OpenAPIResponse(
        description=_WHY[status], content={"application/json": OpenAPIMediaType(schema=schema)}
    )


def _statuses(path: str, method: str, handler: HTTPRouteHandler) -> list[str]:
    guarded = any(guard in _GUARDS for guard in handler.guards or [])
    statuses = ["400", "500"]
    if guarded:
        statuses += ["401", "403"]
    elif path.startswith("/webhooks/"):
        statuses.append("401")
    if "{" in path:
        statuses.append("404")
    if method in {"POST", "PUT"}:
        statuses.append("413")
        if guarded:
            statuses.append("409")
    if path not in {"/healthz", "/metrics"}:
        statuses.append("503")
    return statuses


def _is(schema: Schema, kind: OpenAPIType) -> bool:
    return schema.type == kind or (isinstance(schema.type, list | tuple) and kind in schema.type)


def _constrain(schema: Schema) -> None:
    """Integers within a bigint, as `input_limits` checks them.

    NUL characters are refused too (a 400 every operation documents), but a `pattern` saying
    so would make schemathesis generate every long string through a regex, far too slowly.
    """
    stack: list[Any] = [schema]
    while stack:
        item = stack.pop()
        if not isinstance(item, Schema):
            continue
        if _is(item, OpenAPIType.INTEGER):
            item.maximum = MAX_INT if item.maximum is None else item.maximum
            if item.minimum is None and item.exclusive_minimum is None:
                item.minimum = MIN_INT
        stack += [*(item.properties or {}).values(), item.additional_properties, item.items]
        stack += [*(item.one_of or []), *(item.any_of or [])]


def _constrain_parameters(parameters: list[Parameter | Reference] | None) -> None:
    for parameter in parameters or []:
        if isinstance(parameter, Parameter) and isinstance(parameter.schema, Schema):
            _constrain(parameter.schema)


def _strict_bodies(app: Litestar, handlers: list[HTTPRouteHandler]) -> None:
    """Request body structs: constrained as `input_limits` checks them, closed where they refuse
    unknown fields (`additionalProperties: false`)."""
    components = app.openapi_schema.components.schemas or {}
    seen: set[type] = set()
    for handler in handlers:
        data = handler.parsed_fn_signature.parameters.get("data")
        if data is None:
            continue
        for info in _struct_infos(msgspec.inspect.type_info(data.annotation)):
            if info.cls in seen:
                continue
            seen.add(info.cls)
            name = info.cls.__name__
            schema = next((s for k, s in components.items() if k.rsplit("_", 1)[-1] == name), None)
            if schema is None:
                continue
            _constrain(schema)
            if info.forbid_unknown_fields:
                schema.additional_properties = False


def _struct_infos(info: msgspec.inspect.Type) -> list[msgspec.inspect.StructType]:
    found: list[msgspec.inspect.StructType] = []
    stack: list[Any] = [info]
    while stack:
        item = stack.pop()
        if isinstance(item, msgspec.inspect.StructType):
            found.append(item)
            stack += [f.type for f in item.fields]
        elif isinstance(item, msgspec.inspect.UnionType):
            stack += list(item.types)
        elif isinstance(item, msgspec.inspect.CollectionType | msgspec.inspect.DictType):
            stack += [getattr(item, "item_type", None), getattr(item, "value_type", None)]
    return found


def document_behaviour(app: Litestar) -> None:
    """Complete the app's OpenAPI document before it is first served."""
    paths = app.openapi_schema.paths or {}
    handlers: list[HTTPRouteHandler] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in paths:
            continue
        item = paths[route.path_format]
        for handler in route.route_handlers:
            handlers.append(handler)
            for method in handler.http_methods:
                operation: Operation | None = getattr(item, method.lower(), None)
                if operation is None:
                    continue
                if any(guard in _GUARDS for guard in handler.guards or []):
                    operation.security = list(BEARER)
                responses = operation.responses if operation.responses is not None else {}
                for status in _statuses(route.path_format, method, handler):
                    response = _error_response(status, route.path_format)
                    if (
                        route.path_format.startswith(_ALERTMANAGER_PREFIXES)
                        and status in _ALERTMANAGER_ERRORS
                    ):
                        responses[status] = response  # Litestar's default 400 would promise our object
                    else:
                        responses.setdefault(status, response)
                operation.responses = responses
                _constrain_parameters(operation.parameters)
    _strict_bodies(app, handlers)

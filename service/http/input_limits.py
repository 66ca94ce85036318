"""What no request may carry, refused up front as a 400 that names the field.

PostgreSQL refuses NUL characters in text and jsonb, and every integer we store is a
bigint; msgspec and the json module give up on deeply nested documents with a
RecursionError. Each of these would otherwise surface as a 500 from deep inside a
handler, so one hook checks the query, the path and the body before any handler runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.typing import FieldDefinition

MAX_INT = 2**63 - 1
MIN_INT = -(2**63)
MAX_DEPTH = 64
OWN_BODY_CHECKS = "own_body_checks"
"""A route handler's `opt` key: it decodes and checks its body itself (with `decode_json` or a typed
decoder that refuses what `check_document` refuses), so the hook does not decode it a second time."""

Source = str  # "query", "path" or "body", as in Litestar's own validation errors
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def _refuse(where: str, source: Source, message: str) -> ValidationException:
    return ValidationException(
        detail=f"{where}: {message}", extra=[{"key": where, "source": source, "message": message}]
    )


def check_text(value: str, where: str, source: Source) -> None:
    if "\x00" in value:
        raise _refuse(where, source, "must not contain NUL characters (\\u0000)")


def check_integer(value: int, where: str, source: Source) -> None:
    if not MIN_INT <= value <= MAX_INT:
        raise _refuse(where, source, f"integer out of range (at most {MAX_INT})")


def _walk(document: Any) -> Iterator[tuple[str, Any, int]]:
    """Every key and value with its dotted path and depth, without recursion."""
    stack: list[tuple[str, Any, int]] = [("", document, 0)]
    while stack:
        path, value, depth = stack.pop()
        yield path, value, depth
        if isinstance(value, dict):
            for key, item in value.items():
                shown = str(key).replace("\x00", "\\u0000")
                child = f"{path}.{shown}" if path else shown
                yield child, str(key), depth + 1
                stack.append((child, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item, depth + 1) for index, item in enumerate(value))


def check_document(document: Any, source: Source = "body") -> None:
    """Refuse NUL characters, out-of-range integers and nesting beyond MAX_DEPTH anywhere in it."""
    for path, value, depth in _walk(document):
        where = path or source
        if depth > MAX_DEPTH:
            raise _refuse(where, source, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, str):
            check_text(value, where, source)
        elif isinstance(value, int) and not isinstance(value, bool):
            check_integer(value, where, source)


def decode_json(body: bytes, source: Source = "body") -> Any:
    """The JSON document, or a 400 for what no handler should see (see `check_document`)."""
    try:
        document = msgspec.json.decode(body)
    except RecursionError:
        raise _refuse(source, source, f"nested more than {MAX_DEPTH} levels deep") from None
    except msgspec.DecodeError as exc:
        raise _refuse(source, source, f"not valid JSON ({exc})") from None
    check_document(document, source)
    return document


def _is_integer(field: FieldDefinition) -> bool:
    kinds = [field, *field.inner_types] if field.is_optional else [field]
    return any(k.is_subclass_of(int) and not k.is_subclass_of(bool) for k in kinds)


@cache
def integer_query_parameters(handler: BaseRouteHandler) -> frozenset[str]:
    """The query parameters a handler reads as integers, by the name they have in the URL."""
    names: set[str] = set()
    for name, field in handler.parsed_fn_signature.parameters.items():
        if name in {"data", "request", "scope", "state"} or not _is_integer(field):
            continue
        kwarg = field.kwarg_definition
        names.add(str(getattr(kwarg, "query", None) or getattr(kwarg, "name", None) or name))
    return frozenset(names)


async def reject_hostile_input(request: Request[Any, Any, Any]) -> None:
    """The app's before-request hook: runs after routing, before parameters and the body are parsed."""
    integers = integer_query_parameters(request.route_handler)
    for name, value in request.query_params.multi_items():
        check_text(name, name, "query")
        check_text(value, name, "query")
        if name in integers and _INTEGER.fullmatch(value):
            check_integer(int(value), name, "query")
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_text(value, name, "path")
        elif isinstance(value, int):
            check_integer(value, name, "path")
    if request.method in {"GET", "HEAD", "OPTIONS", "DELETE"} or request.route_handler.opt.get(
        OWN_BODY_CHECKS
    ):
        return
    body = await request.body()
    if not body:
        return
    media = request.content_type[0]
    if media == "application/x-www-form-urlencoded":
        text = body.decode("utf-8", errors="replace")
        for name, value in parse_qsl(text, keep_blank_values=True):
            check_text(name, name, "body")
            check_text(value, name, "body")
    elif media.endswith("json"):
        decode_json(body)

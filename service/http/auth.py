"""Bearer-token guards for the HTTP API.

Tokens are compared as SHA-256 digests with hmac.compare_digest against every
configured token, so timing reveals neither which token nearly matched nor how
many there are.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from service.dependencies import Key
from service.domain.incidents import Actor
from service.observability import AUTH_FAILURES
from service.settings import READ, WRITE, ApiToken, digest_token

STATE_KEY = "api_token"
AnyConnection = ASGIConnection[Any, Any, Any, Any]
API_TOKENS: Key[Sequence[ApiToken]] = Key("api_tokens")


def find_token(tokens: Sequence[ApiToken], presented: str) -> ApiToken | None:
    digest = digest_token(presented)
    found: ApiToken | None = None
    for token in tokens:
        if hmac.compare_digest(token.digest, digest):
            found = token
    return found


def _authenticate(connection: AnyConnection, scope_needed: str) -> ApiToken:
    header = connection.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        AUTH_FAILURES.labels(reason="missing").inc()
        raise NotAuthorizedException(
            detail="missing bearer token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    tokens = API_TOKENS.of(connection)
    token = find_token(tokens, presented.strip())
    if token is None:
        AUTH_FAILURES.labels(reason="invalid").inc()
        raise NotAuthorizedException(detail="invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
    if scope_needed not in token.scopes:
        AUTH_FAILURES.labels(reason="forbidden").inc()
        raise PermissionDeniedException(detail=f"token '{token.name}' lacks the '{scope_needed}' right")
    connection.state[STATE_KEY] = token
    return token


async def can_read(connection: AnyConnection, _: BaseRouteHandler) -> None:
    """Async, though it never waits: Litestar runs a plain function guard on a worker thread, a thread
    hop per request for a SHA-256 and a few compares."""
    _authenticate(connection, READ)


async def can_write(connection: AnyConnection, _: BaseRouteHandler) -> None:
    _authenticate(connection, WRITE)


def api_actor(connection: AnyConnection) -> Actor:
    """The actor for timeline events: the name of the token the guard accepted."""
    token: ApiToken | None = connection.state.get(STATE_KEY)
    return Actor(name=token.name if token else "anonymous", source="api")

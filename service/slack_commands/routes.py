"""POST /slack/commands and POST /slack/interactions.

These routes carry no bearer-token guard (the API's guards are per handler): Slack cannot
send our tokens. They are authenticated by Slack's request signature instead, over the raw
body, before anything is parsed; without a configured secret they refuse everything (503).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from litestar import Request, Response, post
from litestar.exceptions import ValidationException
from litestar.status_codes import HTTP_200_OK

from service.http.input_limits import decode_json
from service.slack_commands.metrics import REJECTED
from service.slack_commands.runtime import SLACK_COMMANDS, SlackCommands

AnyRequest = Request[Any, Any, Any]


def _runtime(request: AnyRequest) -> SlackCommands:
    return SLACK_COMMANDS.of(request)


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def _verified_body(request: AnyRequest) -> bytes | Response[Any]:
    runtime = _runtime(request)
    if runtime.verifier is None:
        REJECTED.labels(reason="unconfigured").inc()
        detail = "Slack commands are disabled: SLACK_SIGNING_SECRET is not configured"
        return Response({"status_code": 503, "detail": detail}, status_code=503)
    body = await request.body()
    rejection = await runtime.verifier.check(body, request.headers)
    if rejection is not None:
        REJECTED.labels(reason=rejection.value).inc()
        detail = "Slack request signature missing, invalid or expired"
        return Response({"status_code": 401, "detail": detail}, status_code=401)
    return body


@post("/slack/commands", status_code=HTTP_200_OK, include_in_schema=False)
async def slack_command(request: AnyRequest) -> Response[Any]:
    body = await _verified_body(request)
    if isinstance(body, Response):
        return body
    runtime = _runtime(request)
    reply = await runtime.answer_command(_form(body), runtime.services(request))
    return Response(reply.body(), status_code=HTTP_200_OK)


@post("/slack/interactions", status_code=HTTP_200_OK, include_in_schema=False)
async def slack_interaction(request: AnyRequest) -> Response[Any]:
    body = await _verified_body(request)
    if isinstance(body, Response):
        return body
    try:
        payload = decode_json(_form(body).get("payload", "").encode(), source="payload")
    except ValidationException as exc:
        return Response({"status_code": 400, "detail": exc.detail}, status_code=400)
    if isinstance(payload, dict) and payload.get("type") == "block_actions":
        runtime = _runtime(request)
        runtime.start_button(payload, runtime.services(request))
    return Response(b"", status_code=HTTP_200_OK)

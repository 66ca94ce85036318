"""Alertmanager's v2 HTTP API, the part Prometheus and amtool use, over our alerts and silences.

Answers follow the published spec: 400 with a string naming the field, valid alerts of a
partly bad batch kept (as Alertmanager does), 404 for an unknown silence id. Reads need a
read token, writes a write token; POST /api/v2/alerts may instead be opened to the source
addresses in INCIDENTD_ALERTS_OPEN_TO for senders that cannot send a token.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, post
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery

from service.alerting.alertmanager_reads import AlertQuery, ReceiverError, judged_alerts, receiver_filter
from service.alerting.alertmanager_views import (
    alert_json,
    groups_json,
    silence_json,
    silence_selected,
    status_json,
)
from service.alerting.ingest import PUSHED_ALERTS
from service.alerting.pushed import Origin, check_batch, check_body
from service.dependencies import Key
from service.domain.silence_matchers import Matcher, MatcherError, from_flags, parse_matchers
from service.http.auth import AnyConnection, api_actor, can_read, can_write
from service.http.input_limits import OWN_BODY_CHECKS, decode_json
from service.silences.service import SILENCES, SilenceNotFound, SilenceRefused

AnyRequest = Request[Any, Any, Any]
MAX_BATCH_BYTES = 4 * 1024 * 1024
ALERTS_OPEN_TO: Key[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]] = Key("alerts_open_to")
STARTED_AT: Key[datetime] = Key("alertmanager_started_at")


async def can_push(connection: AnyConnection, handler: BaseRouteHandler) -> None:
    """A write token, or a client address in the configured open networks."""
    networks = ALERTS_OPEN_TO.of(connection)
    client = connection.client.host if connection.client else ""
    if networks and client and not connection.headers.get("authorization"):
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            address = None
        if address is not None and any(address in n for n in networks):
            return
    await can_write(connection, handler)


def _text(message: str, status: int) -> Response[bytes]:
    """The spec's error body: a JSON string."""
    return Response(msgspec.json.encode(message), status_code=status, media_type=MediaType.JSON)


def _bad(message: str) -> Response[bytes]:
    return _text(message, 400)


def _not_found(message: str) -> Response[bytes]:
    return _text(message, 404)


def _filters(raw: list[str] | None) -> list[Matcher]:
    found: list[Matcher] = []
    for text in raw or []:
        found.extend(parse_matchers(text))
    return found


class _PostMatcher(msgspec.Struct, rename="camel"):
    name: str
    value: str
    is_regex: bool
    is_equal: bool = True


class _PostSilence(msgspec.Struct, rename="camel"):
    matchers: list[_PostMatcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    id: str | None = None


class AlertmanagerApi(Controller):
    path = "/api/v2"
    tags = ["alertmanager v2"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/status", guards=[can_read])
    async def status(self, request: AnyRequest) -> dict[str, Any]:
        return status_json(STARTED_AT.of(request), "# incidentd: routing is incidentd policy\n")

    @get("/receivers", guards=[can_read])
    async def receivers(self) -> list[dict[str, str]]:
        return [{"name": "incidentd"}]

    @post(
        "/alerts",
        guards=[can_push],
        status_code=200,
        request_max_body_size=MAX_BATCH_BYTES,
        opt={OWN_BODY_CHECKS: True},
    )
    async def post_alerts(self, request: AnyRequest) -> Response[bytes]:
        """Prometheus posts a batch of up to 64 alerts many times a second: a well-formed body is decoded
        once, straight into typed alerts; anything else takes the generic road that names the field."""
        body = await request.body()
        ingest = PUSHED_ALERTS.of(request)
        now, timeout = ingest.clock(), ingest.policy.resolve_timeout
        checked = check_body(body, now, Origin.PROMETHEUS, timeout)
        if checked is None:
            raw = decode_json(body)
            if not isinstance(raw, list):
                return _bad("body: expected a JSON array of alerts")
            checked = check_batch(raw, now, Origin.PROMETHEUS, timeout)
        alerts, rejected = checked
        await ingest.ingest(alerts)
        if rejected:
            return _bad("; ".join(r.problem for r in rejected[:20]))
        return Response(b"", status_code=200, media_type=MediaType.JSON)

    @get("/alerts", guards=[can_read])
    async def get_alerts(
        self,
        request: AnyRequest,
        filter: FromQuery[list[str] | None] = None,
        active: FromQuery[bool] = True,
        silenced: FromQuery[bool] = True,
        inhibited: FromQuery[bool] = True,
        unprocessed: FromQuery[bool] = True,
        receiver: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """Every alert that has not resolved, in each state the spec has: `active`, `suppressed`
        (silenced, in a maintenance window or inhibited) and `unprocessed` (firing, not muted, and not yet
        turned into a page: a mute that just ended, before the sweeper's next beat)."""
        try:
            query = AlertQuery.parse(
                filter, active=active, silenced=silenced, inhibited=inhibited, unprocessed=unprocessed
            )
            receivers = receiver_filter(receiver)
        except MatcherError as exc:
            return _bad(f"filter: {exc}")
        except ReceiverError as exc:
            return _bad(f"receiver: {exc}")
        if not receivers:
            return Response([])
        chosen = await judged_alerts(request, query)
        return Response([alert_json(item, verdict) for item, verdict in chosen])

    @get("/alerts/groups", guards=[can_read])
    async def get_groups(
        self,
        request: AnyRequest,
        filter: FromQuery[list[str] | None] = None,
        active: FromQuery[bool] = True,
        silenced: FromQuery[bool] = True,
        inhibited: FromQuery[bool] = True,
        muted: FromQuery[bool] = True,
        receiver: FromQuery[str | None] = None,
    ) -> Response[Any]:
        try:
            query = AlertQuery.parse(filter, active=active, silenced=silenced, inhibited=inhibited)
            receivers = receiver_filter(receiver)
        except MatcherError as exc:
            return _bad(f"filter: {exc}")
        except ReceiverError as exc:
            return _bad(f"receiver: {exc}")
        if not receivers:
            return Response([])
        chosen = await judged_alerts(request, query)
        labels: dict[str, dict[str, str]] = {}
        for item, _ in chosen:
            name = {"alertname": item.labels.get("alertname", "")}
            labels.setdefault(item.group_key, PUSHED_ALERTS.of(request).group_labels(item.labels) | name)
        groups = groups_json(chosen, labels)
        if not muted:
            groups = [g for g in groups if any(a["status"]["state"] != "suppressed" for a in g["alerts"])]
        return Response(groups)

    @get("/silences", guards=[can_read])
    async def get_silences(
        self,
        request: AnyRequest,
        filter: FromQuery[list[str] | None] = None,
    ) -> Response[Any]:
        try:
            filters = _filters(filter)
        except MatcherError as exc:
            return _bad(f"filter: {exc}")
        silences = SILENCES.of(request)
        now = silences.clock()
        found = [silence_json(s, now) for s in await silences.listing() if silence_selected(s, filters)]
        order = {"active": 0, "pending": 1, "expired": 2}
        found.sort(key=lambda s: order[s["status"]["state"]])
        return Response(found)

    @post("/silences", guards=[can_write], status_code=200)
    async def post_silence(self, request: AnyRequest) -> Response[Any]:
        try:
            body = msgspec.json.decode(await request.body(), type=_PostSilence)
        except msgspec.ValidationError as exc:
            text = str(exc)
            field = text.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in text else "body"
            return _bad(f"{field}: {text.split(' - at ', maxsplit=1)[0]}")
        except msgspec.DecodeError as exc:
            return _bad(f"body: not valid JSON ({exc})")
        try:
            matchers = [
                from_flags(m.name, m.value, is_regex=m.is_regex, is_equal=m.is_equal) for m in body.matchers
            ]
        except MatcherError as exc:
            return _bad(f"matchers: {exc}")
        silences = SILENCES.of(request)
        created_by = body.created_by or api_actor(request).name
        try:
            silence_id = await silences.upsert(
                matchers=matchers,
                starts_at=body.starts_at,
                ends_at=body.ends_at,
                created_by=created_by,
                comment=body.comment,
                silence_id=body.id or None,
            )
        except SilenceRefused as exc:
            return _bad(str(exc))
        except SilenceNotFound as exc:
            return _not_found(str(exc))
        return Response({"silenceID": silence_id})

    @get("/silence/{silence_id:str}", guards=[can_read])
    async def get_silence(self, request: AnyRequest, silence_id: FromPath[str]) -> Response[Any]:
        silences = SILENCES.of(request)
        try:
            silence = await silences.get(silence_id)
        except SilenceNotFound as exc:
            return _not_found(str(exc))
        return Response(silence_json(silence, silences.clock()))

    @delete("/silence/{silence_id:str}", guards=[can_write], status_code=200)
    async def delete_silence(self, request: AnyRequest, silence_id: FromPath[str]) -> Response[Any]:
        silences = SILENCES.of(request)
        try:
            await silences.expire(silence_id, api_actor(request).name)
        except SilenceNotFound as exc:
            return _not_found(str(exc))
        return Response(None, status_code=200)

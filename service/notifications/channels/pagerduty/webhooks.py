"""PagerDuty v3 webhooks in: acknowledge, resolve and reopen our incident when someone does it there.

The signature is checked over the raw body against every configured secret
(several during rotation), each with hmac.compare_digest. Applying is
idempotent by state: an ack for an incident we already consider acknowledged
changes nothing. Events carry the PagerDuty actor (source "pagerduty"), which
is how the intent writer knows not to echo them back to PagerDuty.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import structlog
from litestar import Request, post
from litestar.exceptions import NotAuthorizedException, ValidationException
from litestar.status_codes import HTTP_200_OK

from service.adapters.postgres.database import DATABASE, Database
from service.dependencies import Key
from service.domain.incidents import Action, Actor, Incident, InvalidTransition, Status
from service.http.input_limits import decode_json
from service.incidents.service import INCIDENTS, Conflict, IncidentService
from service.notifications import store
from service.notifications.metrics import WEBHOOKS

# Every secret PagerDuty may sign with (several while one is being rotated).
WEBHOOK_SECRETS: Key[Sequence[str]] = Key("pagerduty_webhook_secrets")

log = structlog.get_logger(__name__)

_ACTIONS = {
    "incident.acknowledged": (Action.ACKNOWLEDGE, {Status.TRIGGERED}),
    "incident.resolved": (Action.RESOLVE, {Status.TRIGGERED, Status.ACKNOWLEDGED, Status.MITIGATED}),
    "incident.reopened": (Action.REOPEN, {Status.RESOLVED, Status.MITIGATED}),
}


def signature_valid(body: bytes, header: str, secrets: Sequence[str]) -> bool:
    """True when any `v1=` signature in the header is the HMAC-SHA256 of body under any secret."""
    offered = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    valid = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        for candidate in offered:
            # No early exit: the time taken does not say which secret or signature matched.
            valid |= hmac.compare_digest(expected, candidate.lower())
    return valid


def pagerduty_actor(event: dict[str, Any]) -> Actor:
    agent = event.get("agent") or {}
    name = agent.get("summary") or agent.get("email") or agent.get("id") or "PagerDuty"
    return Actor(name=str(name), source="pagerduty")


async def _incident_for_key(db: Database, incidents: IncidentService, key: str) -> Incident | None:
    """The incident we sent this dedup key for, preferring an open one, then the newest."""
    async with db.connection() as conn:
        ids = await store.incidents_for_dedup_key(conn, key)
    found = [i for i in [await incidents.find(n) for n in ids] if i is not None]
    return max(found, key=lambda i: (i.status is not Status.RESOLVED, i.id), default=None)


async def apply_webhook(
    db: Database, incidents: IncidentService, payload: dict[str, Any]
) -> tuple[str, int | None]:
    """Apply one verified webhook; returns (outcome, incident id) for the answer and the metric."""
    event = payload.get("event")
    if not isinstance(event, dict):
        raise ValidationException(detail="body: expected a PagerDuty v3 webhook with an `event` object")
    event_type = str(event.get("event_type", ""))
    if event_type not in _ACTIONS:
        return "ignored", None
    data = event.get("data") or {}
    key = data.get("incident_key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key:
        return "unmatched", None
    current = await _incident_for_key(db, incidents, key)
    if current is None:
        return "unmatched", None
    incident_id = current.id
    action, from_statuses = _ACTIONS[event_type]
    if current.status not in from_statuses:
        return "duplicate", incident_id
    details = {
        "pagerduty_event_id": str(event.get("id", "")),
        "pagerduty_incident": str(data.get("id", "")),
        "pagerduty_url": str(data.get("html_url", "")),
    }
    try:
        await incidents.act(incident_id, action, pagerduty_actor(event), details=details)
    except (InvalidTransition, Conflict) as exc:
        # Someone got there first (or the dedup key is taken again): nothing left to do.
        log.info("pagerduty_webhook_not_applied", incident_id=incident_id, reason=str(exc))
        return "duplicate", incident_id
    return "applied", incident_id


@post("/webhooks/pagerduty", status_code=HTTP_200_OK, include_in_schema=True, tags=["webhooks"])
async def pagerduty_webhook(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """PagerDuty v3 webhook receiver; authenticated by X-PagerDuty-Signature, not a bearer token."""
    body = await request.body()
    secrets = WEBHOOK_SECRETS.of(request)
    header = request.headers.get("x-pagerduty-signature", "")
    if not secrets or not header or not signature_valid(body, header, secrets):
        WEBHOOKS.labels(outcome="bad_signature").inc()
        log.warning("pagerduty_webhook_rejected", configured=bool(secrets), signed=bool(header))
        raise NotAuthorizedException(detail="invalid or missing X-PagerDuty-Signature")
    try:
        payload = decode_json(body)
    except ValidationException:
        WEBHOOKS.labels(outcome="invalid").inc()
        raise
    if not isinstance(payload, dict):
        WEBHOOKS.labels(outcome="invalid").inc()
        raise ValidationException(detail="body: expected a JSON object")
    outcome, incident_id = await apply_webhook(DATABASE.of(request), INCIDENTS.of(request), payload)
    WEBHOOKS.labels(outcome=outcome).inc()
    return {"status": outcome, "incident_id": incident_id}

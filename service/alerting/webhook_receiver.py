"""POST /webhooks/alertmanager: an Alertmanager that keeps its routing sends us its notifications.

The payload (version 4) carries the group's alerts with their status; firing and resolved
alerts become the same alert states a Prometheus push makes, so both doors open, attach to
and clear the same incidents.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post

from service.alerting.ingest import PUSHED_ALERTS
from service.alerting.pushed import Origin, check_batch
from service.http.auth import can_write

MAX_BYTES = 4 * 1024 * 1024


@post("/webhooks/alertmanager", guards=[can_write], status_code=200, request_max_body_size=MAX_BYTES)
async def alertmanager_webhook(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        return Response({"status_code": 400, "detail": f"body: not valid JSON ({exc})"}, status_code=400)
    if not isinstance(body, dict):
        return Response({"status_code": 400, "detail": "body: expected an object"}, status_code=400)
    version = str(body.get("version", ""))
    if version != "4":
        return Response(
            {"status_code": 400, "detail": f'version: expected "4", got {version!r}'}, status_code=400
        )
    raw = body.get("alerts")
    if not isinstance(raw, list):
        return Response({"status_code": 400, "detail": "alerts: expected a list"}, status_code=400)
    ingest = PUSHED_ALERTS.of(request)
    now = ingest.clock()
    converted = [_as_postable(a, now.isoformat()) for a in raw]
    alerts, rejected = check_batch(converted, now, Origin.ALERTMANAGER, ingest.policy.resolve_timeout)
    await ingest.ingest(alerts)
    problems = [f"alerts{r.problem}" for r in rejected]
    status = 400 if problems else 200
    detail = "; ".join(problems[:20]) if problems else "ok"
    return Response(
        {"status_code": status, "detail": detail, "accepted": len(alerts), "rejected": len(rejected)},
        status_code=status,
    )


def _as_postable(alert: Any, now: str) -> Any:
    """A webhook alert (status, startsAt, endsAt of 0001-01-01 while firing) as a postable one."""
    if not isinstance(alert, dict):
        return alert
    converted = {k: alert[k] for k in ("labels", "annotations", "startsAt", "generatorURL") if k in alert}
    ends = str(alert.get("endsAt") or "")
    if alert.get("status") == "resolved":
        converted["endsAt"] = ends if ends and not ends.startswith("0001-") else now
    elif ends and not ends.startswith("0001-"):
        converted["endsAt"] = ends
    return converted

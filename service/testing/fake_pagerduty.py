"""A fake PagerDuty Events API v2 (`POST /v2/enqueue`) that validates events as documented.

Documented rules enforced: routing_key is 32 characters; event_action is
trigger, acknowledge or resolve; dedup_key (at most 255 characters) is required
except for trigger; a trigger needs payload.summary (at most 1024 characters),
payload.source and payload.severity (critical, error, warning, info); the optional
payload.timestamp is ISO 8601, payload.component/group/class are strings, and each
of `links` has an http(s) `href`; an event may be at most 512 KB. Valid
events get 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}`,
invalid ones 400 `{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`.

Run: python -m service.testing.fake_pagerduty --port 9400
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from service.testing.fake_service import FakeService, serve_main

MAX_EVENT_BYTES = 512 * 1024
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


def _iso8601(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _url(value: Any) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return parts is not None and parts.scheme in ("http", "https") and bool(parts.netloc)


def validate_event(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors: list[str] = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("'routing_key' must be 32 characters")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and dedup is None:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary or len(summary) > 1024:
                errors.append("'payload.summary' is required (at most 1024 characters)")
            if not isinstance(payload.get("source"), str) or not payload["source"]:
                errors.append("'payload.source' is required")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' must be one of critical, error, warning, info")
            stamp = payload.get("timestamp")
            if stamp is not None and not _iso8601(stamp):
                errors.append("'payload.timestamp' must be an ISO 8601 date-time")
            for key in ("component", "group", "class"):
                if key in payload and not isinstance(payload[key], str):
                    errors.append(f"'payload.{key}' must be a string")
            details = payload.get("custom_details")
            if details is not None and not isinstance(details, dict | str):
                errors.append("'payload.custom_details' must be an object")
        links = event.get("links", [])
        if not isinstance(links, list) or any(
            not isinstance(x, dict) or not _url(x.get("href")) for x in links
        ):
            errors.append("'links' must be a list of objects with an http(s) href")
    return errors


@dataclass
class FakePagerDuty(FakeService):
    def error_body(self, status: int) -> dict[str, Any]:
        if status == 429:
            return {
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly",
            }
        return {"status": "error", "message": "Internal server error"}

    @property
    def events(self) -> list[dict[str, Any]]:
        """Accepted events only, in arrival order."""
        with self._lock:
            return [r["body"] for r in self.received if r["path"] == "/v2/enqueue" and r.get("accepted")]

    def routes(self) -> list[web.RouteDef]:
        async def enqueue(request: web.Request) -> web.Response:
            raw = await request.read()
            if len(raw) > MAX_EVENT_BYTES:
                with self._lock:
                    self.received.append(
                        {"path": request.path, "at": time.time(), "body": {}, "accepted": False}
                    )
                body = {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["too large"],
                }
                return web.json_response(body, status=400)
            try:
                event = json.loads(raw)
            except ValueError:
                return web.json_response(
                    {"status": "invalid event", "message": "Event object is invalid", "errors": ["bad JSON"]},
                    status=400,
                )
            errors = validate_event(event)
            with self._lock:
                self.received.append(
                    {"path": request.path, "at": time.time(), "body": event, "accepted": not errors}
                )
            if errors:
                body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
                return web.json_response(body, status=400)
            dedup = event.get("dedup_key") or secrets.token_hex(16)
            body = {"status": "success", "message": "Event processed", "dedup_key": dedup}
            return web.json_response(body, status=202)

        return [web.post("/v2/enqueue", enqueue)]


def main() -> None:
    serve_main(FakePagerDuty(), __doc__ or "", 9400)


if __name__ == "__main__":
    main()

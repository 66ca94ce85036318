"""PagerDuty Events API v2 through the `pagerduty` package, one outbox row per call.

The SDK is synchronous and retries on its own with `time.sleep`; the outbox
already retries durably (with jitter, honouring Retry-After), so its retries
are switched off: `postprocess` raises on 429/5xx before the SDK's loop sees
them, and network failures are not re-attempted inside the client.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pagerduty
import structlog

from service.domain.notification_policy import NotificationPolicy
from service.notifications.channels.pagerduty.limits import MAX_EVENT_BYTES, fit_event
from service.notifications.outcomes import DeliveryError, NotConfigured, parse_retry_after, redact

log = structlog.get_logger(__name__)

# Threads of our own for the synchronous SDK: the loop's default pool has cpu_count + 4 (6 on two
# cores), which would cap the routing keys in flight below the sender's concurrency.
_THREADS = 32


class _Transient(Exception):
    def __init__(self, response: httpx2.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class EventsClient(pagerduty.EventsApiV2Client):
    """The SDK client, pointable at any base URL (the local fake speaks plain http)."""

    def __init__(self, routing_key: str, base_url: str) -> None:
        super().__init__(routing_key, base_url=base_url.rstrip("/"))
        self.max_network_attempts = 0
        self.timeout = 10
        self.retry = {}

    @property
    def url(self) -> str:
        return str(self._url)

    @url.setter
    def url(self, new_base_url: str) -> None:
        # The SDK insists on https://; PAGERDUTY_EVENTS_URL is validated as http(s) by settings.
        self._url = new_base_url

    def postprocess(self, response: httpx2.Response) -> None:
        if response.status_code == 429 or response.status_code >= 500:
            raise _Transient(response)


class PagerDutyDelivery:
    def __init__(self, policy: NotificationPolicy, env: Mapping[str, str], events_url: str) -> None:
        self._policy = policy
        self._env = env
        self._url = events_url
        self._clients: dict[str, EventsClient] = {}
        self._threads: ThreadPoolExecutor | None = None

    def routable(self, ref: str) -> bool:
        return self._policy.resolve_routing_key(ref, self._env) is not None

    def secrets(self) -> list[str]:
        return [v for k, v in self._env.items() if k.startswith("PAGERDUTY_ROUTING_KEY") and v]

    def _client(self, ref: str) -> EventsClient:
        key = self._policy.resolve_routing_key(ref, self._env)
        if key is None:
            raise NotConfigured(f"no routing key for ref {ref!r} (set {self._policy.env_name(ref)})")
        if ref not in self._clients:
            self._clients[ref] = EventsClient(key, self._url)
        return self._clients[ref]

    async def send(self, kind: str, ref: str, payload: dict[str, Any]) -> str:
        client = self._client(ref)
        try:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(_THREADS, thread_name_prefix="pagerduty")
            call = functools.partial(contextvars.copy_context().run, self._call, client, kind, payload)
            return await asyncio.get_running_loop().run_in_executor(self._threads, call)
        except _Transient as exc:
            status = exc.response.status_code
            retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
            raise DeliveryError(f"PagerDuty HTTP {status}", retry=True, retry_after=retry_after) from None
        except pagerduty.HttpError as exc:
            response = exc.response
            status = response.status_code if response is not None else 0
            body = redact(response.text[:200] if response is not None else "", self.secrets())
            raise DeliveryError(f"PagerDuty HTTP {status}: {body}", retry=False) from None
        except pagerduty.Error as exc:
            cause = exc.__cause__ or exc
            raise DeliveryError(f"PagerDuty unreachable: {type(cause).__name__}", retry=True) from None

    @staticmethod
    def _call(client: EventsClient, kind: str, payload: dict[str, Any]) -> str:
        dedup = str(payload["dedup_key"])
        if kind == "trigger":
            event = {
                "routing_key": "r" * 32,  # routing keys are 32 characters; only the size matters here
                "event_action": "trigger",
                "dedup_key": dedup,
                "payload": {
                    "summary": payload["summary"],
                    "source": payload["source"],
                    "severity": payload["severity"],
                    **(payload.get("payload") or {}),  # timestamp, component, group, class count too
                    "custom_details": payload.get("custom_details"),
                },
                "links": payload.get("links"),
            }
            fitted = fit_event(event)
            if fitted is not event:
                log.warning("pagerduty_event_cut_to_fit", dedup_key=dedup, limit_bytes=MAX_EVENT_BYTES)
            result = client.trigger(
                payload["summary"],
                payload["source"],
                dedup_key=dedup,
                severity=payload["severity"],
                payload=payload.get("payload"),
                custom_details=fitted["payload"]["custom_details"],
                links=payload.get("links"),
            )
        elif kind == "acknowledge":
            result = client.acknowledge(dedup)
        elif kind == "resolve":
            result = client.resolve(dedup)
        else:
            raise DeliveryError(f"unknown PagerDuty intent {kind!r}", retry=False)
        return str(result)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if self._threads is not None:
            self._threads.shutdown(wait=False)
            self._threads = None

"""Outgoing webhook as a channel plug-in: one signed JSON POST per outbox row.

The answer is read like any HTTP API's: 2xx delivered; 408, 429 and 5xx retried (honouring
Retry-After); any other status is a dead letter (the receiver refuses it, trying again cannot
help). The URL and secret never reach an error or a log: errors name the target, not the URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

import aiohttp
import asyncpg

from service.notifications.channels.webhook import signing, targets
from service.notifications.notifier import Attempt, Outcome, Pacing, Plan
from service.notifications.outcomes import DeliveryError, NotConfigured, parse_retry_after, redact
from service.notifications.payloads import IncidentEvent, WebhookEvent, decode
from service.notifications.store import OutboxRow

NAME = "webhook"
PACING = Pacing(rate=10.0, burst=20.0)
FORMAT = 1  # the body's `version`: receivers may switch on it


def check_target(target: str) -> str | None:
    return targets.check_name(target)


def body_of(head: OutboxRow) -> dict[str, object]:
    """What receivers get: {version, incident, events} for an incident change, or a given body."""
    if head.kind == "incident":
        event = decode(head.payload, IncidentEvent)
        return {"version": FORMAT, "incident": event.snapshot, "events": event.events}
    return decode(head.payload, WebhookEvent).body


class WebhookNotifier:
    def __init__(
        self, env: Mapping[str, str], *, timeout: float = 10.0, pacing: Pacing | None = PACING
    ) -> None:
        self._env = env
        self._timeout = timeout
        self._pacing = pacing
        self._session: aiohttp.ClientSession | None = None

    @property
    def name(self) -> str:
        return NAME

    @property
    def pacing(self) -> Pacing | None:
        return self._pacing

    def ready(self, target: str) -> bool:
        return targets.resolve(target, self._env) is not None

    def hold_scope(self, target: str) -> str | None:
        return target

    def check_target(self, target: str) -> str | None:
        return check_target(target)

    def secrets(self) -> Sequence[str]:
        found: list[str] = []
        for key, value in self._env.items():
            if key.startswith("INCIDENTD_WEBHOOK_") and key.endswith(("_SECRET", "_URL")) and value:
                found.append(value)
        return found

    async def plan(self, conn: asyncpg.Connection, head: OutboxRow, now: datetime) -> Plan:
        return Plan(batch=[head])

    async def send(self, attempt: Attempt) -> object:
        head = attempt.head
        target = targets.resolve(head.target, self._env)
        if target is None:
            prefix = targets.env_prefix(head.target)
            raise NotConfigured(f"no URL for webhook {head.target!r} (set {prefix}_URL)")
        body = json.dumps(body_of(head), separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = int(attempt.now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "incidentd-webhook/1",
            signing.TIMESTAMP_HEADER: str(timestamp),
            signing.DELIVERY_HEADER: str(head.id),
        }
        if target.secret:
            headers[signing.SIGNATURE_HEADER] = signing.sign(target.secret, timestamp, body)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        try:
            async with self._session.post(
                target.url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                status = answer.status
                retry_after = parse_retry_after(answer.headers.get("Retry-After"))
                text = (await answer.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(
                f"webhook {head.target!r} unreachable: {type(exc).__name__}", retry=True
            ) from None
        if 200 <= status < 300:
            return status
        detail = redact(f"webhook {head.target!r} HTTP {status}: {text}", self.secrets())
        retry = status in {408, 429} or status >= 500
        raise DeliveryError(detail, retry=retry, retry_after=retry_after if retry else None)

    def interpret(self, attempt: Attempt, answer: object) -> Outcome:
        return Outcome(receipt=attempt.head.kind == "incident")

    async def after_retry(self, conn: asyncpg.Connection, head: OutboxRow, retry_at: datetime) -> None:
        return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

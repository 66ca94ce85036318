"""Slack through slack_sdk's AsyncWebClient: one message per incident per channel, updated in place.

The first intent posts the message and remembers (channel id, ts) in
`slack_messages`; later ones `chat.update` it and add one threaded reply per
batch of changes, so a channel sees one line per incident however much happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiohttp
import asyncpg
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from service.adapters.postgres.database import Database
from service.notifications import messages
from service.notifications.channels.slack import store
from service.notifications.outcomes import DeliveryError, NotConfigured, parse_retry_after, redact
from service.notifications.silence_notices import notice_text

# Errors that a later attempt can cure; anything else from Slack is a configuration problem to fix.
_TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable"})


class SlackDelivery:
    def __init__(self, token: str | None, api_url: str, db: Database) -> None:
        self._db = db
        self._token = token
        self._client = (
            AsyncWebClient(token=token, base_url=api_url, timeout=10, retry_handlers=[]) if token else None
        )

    @property
    def configured(self) -> bool:
        return self._client is not None

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        if self._client is None:
            raise NotConfigured("SLACK_BOT_TOKEN is not set")
        try:
            response = await self._client.api_call(method, json=kwargs)
        except SlackApiError as exc:
            raise self._error(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Slack unreachable: {type(exc).__name__}", retry=True) from None
        data: dict[str, Any] = dict(response.data) if isinstance(response.data, dict) else {}
        return data

    def _error(self, exc: SlackApiError) -> DeliveryError:
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        data = getattr(response, "data", None)
        code = str(data.get("error", "")) if isinstance(data, dict) else ""
        headers = getattr(response, "headers", None) or {}
        retry_after = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
        retry = status == 429 or status >= 500 or code in _TRANSIENT_ERRORS
        text = redact(f"Slack HTTP {status}: {code or 'error'}", [self._token])
        return DeliveryError(text, retry=retry, retry_after=retry_after)

    async def post_or_update(
        self,
        conn: asyncpg.Connection,
        *,
        incident_id: int,
        channel: str,
        snapshot: dict[str, Any],
        changes: Sequence[str],
        now: datetime,
    ) -> str:
        """Post the incident's message, or update it and reply in its thread when it exists."""
        ref = await store.message_of(conn, incident_id, channel)
        text, blocks = messages.slack_blocks(snapshot)
        if ref is None:
            answer = await self._call("chat.postMessage", channel=channel, text=text, blocks=blocks)
            channel_id, ts = str(answer.get("channel") or channel), str(answer["ts"])
            await self._remember([incident_id], channel, channel_id, ts, now, summary=False)
            if changes:
                await self._reply(channel_id, ts, changes)
            return "posted"
        channel_id, ts = ref["channel_id"], ref["ts"]
        if not ref["summary"]:
            try:
                await self._call("chat.update", channel=channel_id, ts=ts, text=text, blocks=blocks)
            except DeliveryError as exc:
                if "message_not_found" not in str(exc):
                    raise
                await store.forget(self._db, incident_id, channel)
                return await self.post_or_update(
                    conn,
                    incident_id=incident_id,
                    channel=channel,
                    snapshot=snapshot,
                    changes=changes,
                    now=now,
                )
            await store.touch(conn, incident_id, channel, now)
        if changes:
            head = "" if not ref["summary"] else f"*{snapshot['human_id']}* ({snapshot['status']}): "
            await self._reply(channel_id, ts, [head + changes[0], *changes[1:]])
        return "updated"

    async def _reply(self, channel_id: str, ts: str, changes: Sequence[str]) -> None:
        await self._call("chat.postMessage", channel=channel_id, thread_ts=ts, text="\n".join(changes))

    async def post_summary(
        self,
        *,
        channel: str,
        interval_seconds: float,
        members: Sequence[tuple[int, dict[str, Any]]],
        now: datetime,
    ) -> str:
        """One storm message standing for many incidents; their later changes reply in its thread."""
        text = messages.storm_summary(channel, interval_seconds, [snap for _, snap in members])
        answer = await self._call("chat.postMessage", channel=channel, text=text)
        channel_id, ts = str(answer.get("channel") or channel), str(answer["ts"])
        await self._remember([i for i, _ in members], channel, channel_id, ts, now, summary=True)
        return ts

    async def post_notice(self, channel: str, payload: dict[str, Any]) -> None:
        """A message about no incident in particular (a silence started or ended)."""
        await self._call("chat.postMessage", channel=channel, text=notice_text(payload))

    async def _remember(
        self, incident_ids: list[int], channel: str, channel_id: str, ts: str, now: datetime, *, summary: bool
    ) -> None:
        """Record a posted message at once, committed on its own, not with the outbox row: once Slack
        has it, a crash before the sender marks the row sent must lead to an update, not a second post.
        (Only the instant between Slack's answer and this commit is left uncovered.)"""
        await store.remember(self._db, incident_ids, channel, channel_id, ts, now, summary=summary)

    async def close(self) -> None:
        if self._client is not None and self._client.session is not None:
            await self._client.session.close()

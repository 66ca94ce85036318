"""Slack through slack_sdk's AsyncWebClient: one message per incident per channel, updated in place.

The first intent posts the message and remembers (channel id, ts) in
`slack_messages`; later ones `chat.update` it and add one threaded reply per
batch of changes, so a channel sees one line per incident however much happens.

A kill -9 between Slack's answer and our commit must not lead to a second post.
So the post is recorded (with an attempt key, no ts) and committed before
chat.postMessage, the key travels in the message's metadata, and a post that
was under way when the process died is first looked up in the channel's history
(`conversations.history`, `include_all_metadata`). Thread replies of a send that
may have gone out (see `maybe_sent`) carry the outbox id and are looked up the
same way in `conversations.replies`. Storm summaries do the same per message: the
incidents a summary message will name are recorded under one attempt key (with
`summary` set) before it is posted, and a retry looks that key up before posting
them again. Reading history needs the `channels:history` (and, for private
channels, `groups:history`) scope; without it we post anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from service.adapters.postgres.database import Database
from service.notifications import messages
from service.notifications.channels.slack import store
from service.notifications.channels.slack.storm_summary import storm_parts
from service.notifications.outcomes import DeliveryError, NotConfigured, parse_retry_after, redact
from service.notifications.silence_notices import notice_text

# Errors that a later attempt can cure; anything else from Slack is a configuration problem to fix.
_TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable"})
POST_EVENT = "incidentd_incident"
REPLY_EVENT = "incidentd_update"
STORM_EVENT = "incidentd_storm"
_LOOKUP_PAGES = 5  # of 200 messages each; a post under way is among the channel's newest
log = structlog.get_logger(__name__)


class SlackDelivery:
    def __init__(self, token: str | None, api_url: str, db: Database) -> None:
        self._db = db
        self._token = token
        self._client = (
            AsyncWebClient(token=token, base_url=api_url, timeout=10, retry_handlers=[]) if token else None
        )
        self._channel_ids: dict[str, str] = {}

    @property
    def configured(self) -> bool:
        return self._client is not None

    async def _call(self, method: str, *, read: bool = False, **kwargs: Any) -> dict[str, Any]:
        if self._client is None:
            raise NotConfigured("SLACK_BOT_TOKEN is not set")
        try:
            if read:  # Slack's read methods take query parameters, not a JSON body
                params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in kwargs.items()}
                response = await self._client.api_call(method, http_verb="GET", params=params)
            else:
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
        outbox_id: int = 0,
        maybe_sent: bool = False,
    ) -> str:
        """Post the incident's message, or update it and reply in its thread when it exists.

        `maybe_sent`: this intent was attempted before and its outcome never committed (a crash).
        """
        ref = await conn.fetchrow(
            "SELECT channel_id, ts, summary, attempt_key, created_at FROM slack_messages"
            " WHERE incident_id = $1 AND channel = $2",
            incident_id,
            channel,
        )
        text, blocks = messages.slack_blocks(snapshot)
        if ref is not None and ref["ts"] is None:
            summary = bool(ref["summary"])
            event = STORM_EVENT if summary else POST_EVENT
            found = await self._find_post(channel, ref["attempt_key"], ref["created_at"], event=event)
            if found is not None:
                log.info("slack_post_found_after_crash", incident_id=incident_id, channel=channel)
                await self._remember([incident_id], channel, found[0], found[1], now, summary=summary)
                ref = {"channel_id": found[0], "ts": found[1], "summary": summary}
        if ref is None or ref["ts"] is None:
            key = ref["attempt_key"] if ref is not None and not ref["summary"] else uuid.uuid4().hex
            if ref is None or ref["summary"]:
                await self._record_attempt([incident_id], channel, key, now, summary=False)
            metadata = {
                "event_type": POST_EVENT,
                "event_payload": {"incident_id": incident_id, "attempt": key},
            }
            answer = await self._call(
                "chat.postMessage", channel=channel, text=text, blocks=blocks, metadata=metadata
            )
            channel_id, ts = str(answer.get("channel") or channel), str(answer["ts"])
            await self._remember([incident_id], channel, channel_id, ts, now, summary=False)
            if changes:
                await self._reply(channel_id, ts, changes, outbox_id)
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
                    outbox_id=outbox_id,
                )
            await store.touch(conn, incident_id, channel, now)
        if changes and not (maybe_sent and await self._replied(channel_id, ts, outbox_id)):
            head = "" if not ref["summary"] else f"*{snapshot['human_id']}* ({snapshot['status']}): "
            await self._reply(channel_id, ts, [head + changes[0], *changes[1:]], outbox_id)
        return "updated"

    async def _reply(self, channel_id: str, ts: str, changes: Sequence[str], outbox_id: int) -> None:
        metadata = {"event_type": REPLY_EVENT, "event_payload": {"outbox_id": outbox_id}}
        await self._call(
            "chat.postMessage", channel=channel_id, thread_ts=ts, text="\n".join(changes), metadata=metadata
        )

    async def _record_attempt(
        self, incident_ids: list[int], channel: str, key: str, now: datetime, *, summary: bool
    ) -> None:
        """Committed on its own before the post, so a restart knows a post may already be in Slack.

        A post still under way (no ts) takes the new key: the one it had was looked up and not found."""
        await self._db.execute(
            """
            INSERT INTO slack_messages (incident_id, channel, attempt_key, summary, created_at, updated_at)
            SELECT i, $2, $3, $4, $5, $5 FROM unnest($1::bigint[]) AS i
            ON CONFLICT (incident_id, channel) DO UPDATE
                SET attempt_key = EXCLUDED.attempt_key, summary = EXCLUDED.summary,
                    created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
                WHERE slack_messages.ts IS NULL
            """,
            incident_ids,
            channel,
            key,
            summary,
            now,
        )

    async def _find_post(
        self, channel: str, key: str | None, since: datetime, *, event: str = POST_EVENT
    ) -> tuple[str, str] | None:
        """The message a crashed attempt posted, if Slack has it: (channel id, ts)."""
        if key is None:
            return None
        try:
            channel_id = await self._channel_id(channel)
            if channel_id is None:
                return None
            cursor = ""
            for _ in range(_LOOKUP_PAGES):
                page = await self._call(
                    "conversations.history",
                    read=True,
                    channel=channel_id,
                    oldest=f"{(since - timedelta(minutes=1)).timestamp():.6f}",
                    include_all_metadata=True,
                    limit=200,
                    **({"cursor": cursor} if cursor else {}),
                )
                for message in page.get("messages", []):
                    if _carries(message, event, "attempt", key):
                        return channel_id, str(message["ts"])
                cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
                if not cursor:
                    return None
        except DeliveryError as exc:
            if exc.retry:
                raise
            log.warning("slack_history_unreadable_posting_anyway", channel=channel, error=str(exc))
        return None

    async def _replied(self, channel_id: str, ts: str, outbox_id: int) -> bool:
        try:
            page = await self._call(
                "conversations.replies", read=True, channel=channel_id, ts=ts, include_all_metadata=True
            )
        except DeliveryError as exc:
            if exc.retry:
                raise
            log.warning("slack_thread_unreadable_replying_anyway", channel=channel_id, error=str(exc))
            return False
        return any(_carries(m, REPLY_EVENT, "outbox_id", outbox_id) for m in page.get("messages", []))

    async def _channel_id(self, channel: str) -> str | None:
        """conversations.history wants an id; routes name channels (`#alerts`)."""
        name = channel.lstrip("#")
        if name[:1] in {"C", "G"} and name.isupper() and name.isalnum():
            return name
        if name in self._channel_ids:
            return self._channel_ids[name]
        cursor = ""
        for _ in range(_LOOKUP_PAGES * 10):
            page = await self._call(
                "conversations.list",
                read=True,
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=200,
                **({"cursor": cursor} if cursor else {}),
            )
            for found in page.get("channels", []):
                self._channel_ids[str(found.get("name"))] = str(found.get("id"))
            if name in self._channel_ids:
                return self._channel_ids[name]
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        return None

    async def post_summary(
        self,
        *,
        channel: str,
        interval_seconds: float,
        members: Sequence[tuple[int, dict[str, Any]]],
        now: datetime,
    ) -> int:
        """Name every member in as many messages as Slack's limits need; returns how many were posted.

        Each message is remembered for the incidents it names as soon as Slack has it, so their
        later changes reply in its thread, and a retry after a failure part-way posts only the rest.
        """
        named = await self._db.fetch(
            "SELECT incident_id, ts, summary, attempt_key, created_at FROM slack_messages"
            " WHERE channel = $1 AND incident_id = ANY($2::bigint[])",
            channel,
            [i for i, _ in members],
        )
        done = {r["incident_id"] for r in named if r["ts"] is not None or not r["summary"]}
        done |= await self._find_summaries(channel, [r for r in named if r["incident_id"] not in done], now)
        todo = [(i, snap) for i, snap in members if i not in done]
        parts = storm_parts(channel, interval_seconds, todo, already_named=len(members) - len(todo))
        for part in parts:
            key = uuid.uuid4().hex
            await self._record_attempt(list(part.incident_ids), channel, key, now, summary=True)
            metadata = {"event_type": STORM_EVENT, "event_payload": {"attempt": key}}
            answer = await self._call(
                "chat.postMessage", channel=channel, text=part.text, blocks=part.blocks, metadata=metadata
            )
            channel_id, ts = str(answer.get("channel") or channel), str(answer["ts"])
            await self._remember(list(part.incident_ids), channel, channel_id, ts, now, summary=True)
        return len(parts)

    async def _find_summaries(self, channel: str, under_way: Sequence[Any], now: datetime) -> set[int]:
        """Incidents whose summary message a crashed attempt posted: found in history, now remembered."""
        by_key: dict[str, list[Any]] = {}
        for row in under_way:
            by_key.setdefault(str(row["attempt_key"]), []).append(row)
        found_ids: set[int] = set()
        for key, rows in by_key.items():
            since = min(r["created_at"] for r in rows)
            found = await self._find_post(channel, key, since, event=STORM_EVENT)
            if found is None:
                continue
            ids = [int(r["incident_id"]) for r in rows]
            log.info("slack_summary_found_after_crash", channel=channel, incidents=len(ids))
            await self._remember(ids, channel, found[0], found[1], now, summary=True)
            found_ids.update(ids)
        return found_ids

    async def post_notice(self, channel: str, payload: dict[str, Any]) -> None:
        """A message about no incident in particular (a silence started or ended, the daily digest)."""
        if payload.get("what") == "digest":  # composed and escaped by service/reports/slack_digest.py
            text, blocks = payload["text"], payload["blocks"]
            await self._call("chat.postMessage", channel=channel, text=text, blocks=blocks)
            return
        await self._call("chat.postMessage", channel=channel, text=notice_text(payload))

    async def _remember(
        self, incident_ids: list[int], channel: str, channel_id: str, ts: str, now: datetime, *, summary: bool
    ) -> None:
        """Record a posted message at once, committed on its own, not with the outbox row: once Slack
        has it, a crash before the sender marks the row sent must lead to an update, not a second post.
        A post recorded as under way (no ts yet) is completed; a known message is never replaced."""
        await self._db.execute(
            """
            INSERT INTO slack_messages (incident_id, channel, channel_id, ts, summary, created_at, updated_at)
            SELECT i, $2, $3, $4, $5, $6, $6 FROM unnest($1::bigint[]) AS i
            ON CONFLICT (incident_id, channel) DO UPDATE
                SET channel_id = EXCLUDED.channel_id, ts = EXCLUDED.ts, summary = EXCLUDED.summary,
                    updated_at = EXCLUDED.updated_at
                WHERE slack_messages.ts IS NULL
            """,
            incident_ids,
            channel,
            channel_id,
            ts,
            summary,
            now,
        )

    async def close(self) -> None:
        if self._client is not None and self._client.session is not None:
            await self._client.session.close()


def _carries(message: dict[str, Any], event_type: str, field: str, value: object) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(metadata.get("event_type") == event_type and payload.get(field) == value)

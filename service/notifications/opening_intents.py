"""Intents for many incidents opened together (an alert storm), in a few statements for all of them.

The messages are exactly those `IntentWriter` writes for a `declared` change, one by one: the
PagerDuty trigger for paging severities (and the dedup key remembered), the Slack post to each
routed channel, coalesced into the channel's storm summary once the storm limit is reached. A new
incident has nothing earlier in the outbox and no Slack thread, so nothing needs to be read per
incident: its timeline is what this transaction wrote for it. Each channel's recent-post count is
read once and counted forward here, as the one-by-one path would find it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from service.domain.notification_policy import NotificationPolicy
from service.incidents.service import IncidentChange, IncidentTransaction
from service.notifications import messages, store
from service.notifications.outbox import Intent, enqueue_many
from service.notifications.payloads import VERSION, PagerDutyTrigger, Payload, SlackMessage, StormSummary
from service.notifications.snapshots import snapshot


def is_plain_opening(change: IncidentChange) -> bool:
    return change.previous is None and [e.kind for e in change.events] == ["declared"]


async def write_openings(
    tx: IncidentTransaction,
    changes: Sequence[IncidentChange],
    policy: NotificationPolicy,
    public_url: str,
) -> None:
    if not changes:
        return
    conn = tx.conn
    written: dict[int, list[Any]] = {}
    for earlier in tx.changes:
        written.setdefault(earlier.incident.id, []).extend(earlier.events)
    intents: list[Intent] = []
    dedup_keys: list[tuple[str, int, datetime]] = []
    recent: dict[str, int] = {}
    for change in changes:
        incident = change.incident
        now = max(e.at for e in change.events)
        snap = snapshot(incident, written.get(incident.id, list(change.events)), public_url)
        snap["slack_url"] = None  # no Slack message can exist yet for an incident opened just now
        if change.actor.source != "pagerduty" and policy.pages(incident.severity):
            dedup = messages.pagerduty_dedup_key(incident)
            body = PagerDutyTrigger(v=VERSION, **messages.pagerduty_trigger(snap, dedup, incident.severity))
            intents.append(intent(incident.id, "pagerduty", "trigger", policy.default_routing_key, body))
            dedup_keys.append((dedup, incident.id, now))
        channels = policy.slack_channels(incident.severity) if incident.status.is_open else []
        for channel in dict.fromkeys(channels):
            payload = SlackMessage(v=VERSION, snapshot=snap)
            limit = policy.storm_max_new
            if limit is None:
                intents.append(intent(incident.id, "slack", "post", channel, payload))
                continue
            if channel not in recent:
                since = now - policy.storm_interval
                recent[channel] = await store.slack_posts_since(conn, channel, since)
            if recent[channel] >= limit:
                intents.extend(coalesced(incident.id, channel, payload, now, policy.storm_interval))
            else:
                intents.append(intent(incident.id, "slack", "post", channel, payload))
            recent[channel] += 1
    await enqueue_many(conn, unique_summaries(intents), max(e.at for c in changes for e in c.events))
    if dedup_keys:
        await store.remember_dedup_keys(conn, dedup_keys)


def intent(incident_id: int | None, channel: str, kind: str, target: str, payload: Payload) -> Intent:
    return Intent(
        incident_id=incident_id,
        channel=channel,
        kind=kind,
        target=target,
        payload=payload,
    )


def coalesced(
    incident_id: int, channel: str, payload: SlackMessage, now: datetime, interval: timedelta
) -> list[Intent]:
    """As `_Plan._coalesce`: the post waits a little past its channel's summary for this interval."""
    seconds = interval.total_seconds()
    bucket = math.floor(now.timestamp() / seconds)
    end = datetime.fromtimestamp((bucket + 1) * seconds, tz=now.tzinfo)
    key = f"storm:{channel}:{bucket}"
    grace = timedelta(seconds=min(5.0, seconds / 4))
    summary = StormSummary(v=VERSION, storm_key=key, channel=channel, interval_seconds=seconds)
    return [
        Intent(
            incident_id=incident_id, channel="slack", kind="post", target=channel,
            payload=msgspec.structs.replace(payload, storm_key=key), not_before=end + grace,
        ),
        Intent(
            incident_id=None, channel="slack", kind="storm_summary", target=channel,
            payload=summary, not_before=end, idempotency_key=key,
        ),
    ]  # fmt: skip


def unique_summaries(intents: list[Intent]) -> list[Intent]:
    seen: set[str] = set()
    kept: list[Intent] = []
    for intent in intents:
        if intent.idempotency_key is not None:
            if intent.idempotency_key in seen:
                continue
            seen.add(intent.idempotency_key)
        kept.append(intent)
    return kept

"""Intents for many `escalated` changes made together (a backlog of due steps after an outage), in a
few statements for all of them.

The messages are exactly those `IntentWriter` writes for a change whose one event is `escalated`:
a PagerDuty trigger to each routing key the level names that has not been paged for the incident yet
(its dedup key remembered), a Slack post to each routed channel not posted in yet (coalesced into
the channel's storm summary once the storm limit is reached), the escalation's line as an update in
each channel already posted in, the plug-in targets told, and an `escalation_unmentioned` event for
the names Slack cannot mention. What the one-by-one path reads per incident (its timeline, earlier
intents, Slack thread, mentions) is read once here for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from service.domain import event_payloads
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import Escalated, EscalationUnmentioned
from service.domain.incidents import Incident, TimelineEvent
from service.domain.links import message_link
from service.domain.notification_policy import NotificationPolicy
from service.incidents.service import IncidentChange, IncidentService, IncidentTransaction
from service.notifications import messages, store
from service.notifications.channels.slack import store as slack_store
from service.notifications.channels.slack.directory import mentions_for, workspace_url
from service.notifications.intent_rules import (
    BUILT_IN_TARGETS,
    INCIDENT_KIND,
    NOTIFICATIONS_ACTOR,
    escalation_names,
    escalation_targets,
)
from service.notifications.opening_intents import coalesced, intent, unique_summaries
from service.notifications.outbox import Intent, enqueue_many
from service.notifications.payloads import VERSION, IncidentEvent, PagerDutyTrigger, SlackMessage
from service.notifications.snapshots import snapshot

_TOLD = (("pagerduty", "trigger"), ("slack", "post"), ("*", INCIDENT_KIND))


def batched_escalations(changes: Sequence[IncidentChange]) -> list[IncidentChange]:
    """The changes this module writes together: one `escalated` event each, one incident each, all
    stamped with the same moment (the rest go one by one)."""
    chosen: list[IncidentChange] = []
    seen: set[int] = set()
    for change in changes:
        events = change.events
        if len(events) != 1 or events[0].kind != EventKind.ESCALATED or change.actor.source == "pagerduty":
            continue
        if change.incident.id in seen or (chosen and events[0].at != chosen[0].events[0].at):
            continue
        seen.add(change.incident.id)
        chosen.append(change)
    return chosen


async def write_escalations(
    tx: IncidentTransaction,
    changes: Sequence[IncidentChange],
    policy: NotificationPolicy,
    public_url: str,
    incidents: IncidentService,
) -> None:
    if not changes:
        return
    conn = tx.conn
    ids = [c.incident.id for c in changes]
    told = await store.told_targets(conn, ids, _TOLD)
    timelines = await incidents.timelines_in(tx, ids)
    threads = await slack_store.first_messages(conn, ids)
    workspace = await workspace_url(conn) if threads else ""
    mentions = await mentions_for(conn, [n for c in changes for n in escalation_names(c.events[0])])
    now = changes[0].events[0].at
    intents: list[Intent] = []
    dedup_keys: list[tuple[str, int, datetime]] = []
    recent: dict[str, int] = {}
    unmentioned: list[tuple[Incident, str, dict[str, Any]]] = []
    for change in changes:
        incident, event = change.incident, change.events[0]
        earlier = told[incident.id]
        snap = snapshot(incident, timelines[incident.id], public_url)
        thread = threads.get(incident.id)
        snap["slack_url"] = (
            (message_link(workspace, thread["channel_id"], thread["ts"]) or None) if thread else None
        )
        triggered = sorted({t for _, t in earlier[("pagerduty", "trigger")]})
        refs = [r for r in dict.fromkeys(escalation_targets(event, "pagerduty")) if r not in triggered]
        if refs:
            dedup = messages.pagerduty_dedup_key(incident)
            body = PagerDutyTrigger(v=VERSION, **messages.pagerduty_trigger(snap, dedup, incident.severity))
            intents += [intent(incident.id, "pagerduty", "trigger", ref, body) for ref in refs]
            dedup_keys.append((dedup, incident.id, now))
        posted = sorted({t for _, t in earlier[("slack", "post")]})
        wanted = policy.slack_channels(incident.severity) if incident.status.is_open else []
        wanted = [*wanted, *escalation_targets(event, "slack_channels")]
        for channel in (c for c in dict.fromkeys(wanted) if c not in posted):
            intents += await _post(
                conn, policy, recent, incident.id, channel, SlackMessage(v=VERSION, snapshot=snap), now
            )
        if posted:
            lines = [line for line in [messages.change_line(event, mentions)] if line]
            update = SlackMessage(v=VERSION, snapshot=snap, changes=lines)
            intents += [intent(incident.id, "slack", "update", channel, update) for channel in posted]
        intents += _plug_ins(incident.id, event, list(earlier[("*", INCIDENT_KIND)]), snap)
        missing = [f"{kind} {name}" for kind, name in escalation_names(event) if (kind, name) not in mentions]
        if missing:
            escalated = event_payloads.read(event.data, Escalated)
            data = EscalationUnmentioned(
                level=escalated.level if escalated else None, names=missing
            ).as_data()
            unmentioned.append((incident, EventKind.ESCALATION_UNMENTIONED, data))
    await enqueue_many(conn, unique_summaries(intents), now)
    if dedup_keys:
        await store.remember_dedup_keys(conn, dedup_keys)
    await incidents.record_many_in(tx, unmentioned, NOTIFICATIONS_ACTOR)


async def _post(
    conn: asyncpg.Connection,
    policy: NotificationPolicy,
    recent: dict[str, int],
    incident_id: int,
    channel: str,
    payload: SlackMessage,
    now: datetime,
) -> list[Intent]:
    """As `_Plan._post`: each channel's recent-post count is read once and counted forward."""
    limit = policy.storm_max_new
    if limit is None:
        return [intent(incident_id, "slack", "post", channel, payload)]
    if channel not in recent:
        recent[channel] = await store.slack_posts_since(conn, channel, now - policy.storm_interval)
    recent[channel] += 1
    if recent[channel] > limit:
        return coalesced(incident_id, channel, payload, now, policy.storm_interval)
    return [intent(incident_id, "slack", "post", channel, payload)]


def _plug_ins(
    incident_id: int, event: TimelineEvent, subscribers: list[tuple[str, str]], snap: dict[str, Any]
) -> list[Intent]:
    """As `_Plan.plug_ins`: those told before, and the plug-in targets this level names."""
    escalated = event_payloads.read(event.data, Escalated)
    for channel, targets in (escalated.targets if escalated is not None else {}).items():
        if channel not in BUILT_IN_TARGETS:
            subscribers += [(channel, t) for t in targets if (channel, t) not in subscribers]
    if not subscribers:
        return []
    events = [{"kind": event.kind, "at": event.at.isoformat(), "actor": event.actor, "data": event.data}]
    payload = IncidentEvent(v=VERSION, snapshot=snap, events=events)
    return [intent(incident_id, channel, INCIDENT_KIND, target, payload) for channel, target in subscribers]

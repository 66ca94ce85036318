"""Turning incident changes into outbox intents, inside the incident's own transaction.

Every outbound message is derived here from timeline events (the event kinds are the
contract), so escalation, Slack commands and webhooks never write
outbox rows themselves, and a message exists if and only if its cause committed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from service.domain import event_payloads
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import Escalated, EscalationUnmentioned
from service.domain.incidents import Incident, incident_page_url
from service.domain.links import message_link
from service.domain.notification_policy import NotificationPolicy
from service.incidents.service import IncidentChange, IncidentService, IncidentTransaction
from service.notifications import messages, store
from service.notifications.channels.slack import store as slack_store
from service.notifications.channels.slack.directory import mentions_for, workspace_url
from service.notifications.escalation_intents import batched_escalations, write_escalations
from service.notifications.intent_rules import BUILT_IN_TARGETS as _BUILT_IN_TARGETS
from service.notifications.intent_rules import INCIDENT_KIND, NOTIFICATIONS_ACTOR
from service.notifications.intent_rules import SILENT as _SILENT
from service.notifications.intent_rules import escalation_names as _escalation_names
from service.notifications.intent_rules import escalation_targets as _escalation_targets
from service.notifications.opening_intents import is_plain_opening, write_openings
from service.notifications.outbox import enqueue
from service.notifications.payloads import (
    VERSION,
    IncidentEvent,
    PagerDutyAction,
    PagerDutyTrigger,
    Payload,
    SlackMessage,
    StormSummary,
)
from service.notifications.snapshots import snapshot

_SLACK_UPDATE_KINDS = frozenset(
    {
        EventKind.ACKNOWLEDGED,
        EventKind.UNACKNOWLEDGED,
        EventKind.MITIGATED,
        EventKind.RESOLVED,
        EventKind.REOPENED,
        EventKind.RETRIGGERED,
        EventKind.SEVERITY_RAISED,
        EventKind.SEVERITY_LOWERED,
        EventKind.ASSIGNED,
        EventKind.RETITLED,
        EventKind.NOTE,
        EventKind.ESCALATED,
        EventKind.ESCALATION_EXHAUSTED,
        EventKind.SILENCED,
        EventKind.UNSILENCED,
        EventKind.ACTION_ITEM_DUE,
    }
)


# When the policy's `routes` are looked at: as Slack channels, on declaration and when an incident
# becomes one a route asks for (raised, or open again).
_ROUTED_ON = frozenset({EventKind.DECLARED, EventKind.SEVERITY_RAISED, EventKind.REOPENED})


class IntentWriter:
    """The IncidentService observer; one instance per process, stateless between changes."""

    def __init__(self, policy: NotificationPolicy, public_url: str, incidents: IncidentService) -> None:
        self._policy = policy
        self._public_url = public_url
        self._incidents = incidents

    async def observe_many(self, tx: IncidentTransaction, changes: Sequence[IncidentChange]) -> None:
        """Incidents opened together (an alert storm, opening_intents.py) or escalated together (a
        backlog of due steps, escalation_intents.py) in a few statements; any other change one by one."""
        openings = [c for c in changes if is_plain_opening(c)]
        escalations = batched_escalations(changes)
        await write_openings(tx, openings, self._policy, self._public_url)
        await write_escalations(tx, escalations, self._policy, self._public_url, self._incidents)
        batched = {id(c) for c in (*openings, *escalations)}
        for change in changes:
            if id(change) not in batched:
                await self(tx, change)

    async def __call__(self, tx: IncidentTransaction, change: IncidentChange) -> None:
        kinds = {e.kind for e in change.events}
        if kinds <= _SILENT:
            return
        now = max(e.at for e in change.events)
        planner = _Plan(self._policy, self._public_url, self._incidents, tx, change, now)
        await planner.pagerduty()
        await planner.slack()
        await planner.plug_ins()
        await planner.warn_unmentioned()


class _Plan:
    def __init__(
        self,
        policy: NotificationPolicy,
        public_url: str,
        incidents: IncidentService,
        tx: IncidentTransaction,
        change: IncidentChange,
        now: datetime,
    ) -> None:
        self.policy = policy
        self.public_url = public_url
        self.incidents = incidents
        self.tx = tx
        self.conn = tx.conn
        self.change = change
        self.incident: Incident = change.incident
        self.now = now
        self._snap: dict[str, Any] | None = None

    async def snap(self) -> dict[str, Any]:
        if self._snap is None:
            events = await self.incidents.timeline_in(self.tx, self.incident.id)
            self._snap = snapshot(self.incident, events, self.public_url)
            self._snap["slack_url"] = await self._slack_thread()
        return self._snap

    async def _slack_thread(self) -> str | None:
        """The permalink of the incident's first Slack message, once Slack has it (for PagerDuty)."""
        row = await slack_store.first_message(self.conn, self.incident.id)
        if row is None:
            return None
        return message_link(await workspace_url(self.conn), row["channel_id"], row["ts"]) or None

    async def _targets(self, channel: str, kind: str) -> list[str]:
        return await store.targets_of(self.conn, self.incident.id, channel, kind)

    async def _enqueue(self, channel: str, kind: str, target: str, payload: Payload | dict[str, Any]) -> None:
        await enqueue(
            self.conn,
            incident_id=self.incident.id,
            channel=channel,
            kind=kind,
            target=target,
            payload=payload,
            now=self.now,
        )

    async def _trigger(self, refs: list[str]) -> None:
        dedup = messages.pagerduty_dedup_key(self.incident)
        trigger = messages.pagerduty_trigger(await self.snap(), dedup, self.incident.severity)
        body = PagerDutyTrigger(v=VERSION, **trigger)
        for ref in dict.fromkeys(refs):
            await self._enqueue("pagerduty", "trigger", ref, body)
        await store.remember_dedup_key(self.conn, dedup, self.incident.id, self.now)

    async def pagerduty(self) -> None:
        """Trigger, acknowledge and resolve follow the incident; what PagerDuty told us is not echoed."""
        if self.change.actor.source == "pagerduty":
            return
        events = self.change.events
        kinds = {e.kind for e in events}
        pages = self.policy.pages(self.incident.severity)
        triggered = await self._targets("pagerduty", "trigger")
        refs: list[str] = []
        if EventKind.DECLARED in kinds and pages:
            refs.append(self.policy.default_routing_key)
        if (
            kinds & {EventKind.SEVERITY_RAISED, EventKind.REOPENED, EventKind.RETRIGGERED}
            and pages
            and self.incident.status.is_open
        ):
            refs += triggered or [self.policy.default_routing_key]
        if EventKind.RETITLED in kinds and pages and self.incident.status.is_open:
            # PagerDuty takes a trigger with the same dedup key as an update of the alert's summary.
            for ref in triggered:
                if ref not in refs and await self._last_pagerduty_kind(ref) in ("trigger", "acknowledge"):
                    refs.append(ref)
        for event in events:
            if event.kind == EventKind.ESCALATED:
                # A routing key already paged for this incident holds its PagerDuty incident (same
                # dedup key): paging it again changes nothing there and only adds noise.
                targets = _escalation_targets(event, "pagerduty")
                refs += [ref for ref in targets if ref not in triggered and ref not in refs]
        if refs:
            await self._trigger(refs)
            triggered = sorted(set(triggered) | set(refs))
        dedup = messages.pagerduty_dedup_key(self.incident)
        cleared = EventKind.MITIGATED in kinds and self.change.actor.source == "rules"
        for ref in triggered:
            last = await self._last_pagerduty_kind(ref)
            if EventKind.ACKNOWLEDGED in kinds and last == "trigger":
                await self._enqueue(
                    "pagerduty", "acknowledge", ref, PagerDutyAction(v=VERSION, dedup_key=dedup)
                )
            # Like Alertmanager's send_resolved: once every alert cleared, PagerDuty stops its own
            # escalation; our incident stays mitigated until a person resolves it.
            wants_resolve = EventKind.RESOLVED in kinds or (cleared and self.policy.resolve_when_cleared)
            if wants_resolve and last != "resolve":
                await self._enqueue("pagerduty", "resolve", ref, PagerDutyAction(v=VERSION, dedup_key=dedup))

    async def _last_pagerduty_kind(self, ref: str) -> str | None:
        kind: str | None = await self.conn.fetchval(
            "SELECT kind FROM notification_outbox WHERE incident_id = $1 AND channel = 'pagerduty'"
            " AND target = $2 ORDER BY id DESC LIMIT 1",
            self.incident.id,
            ref,
        )
        return kind

    async def slack(self) -> None:
        events = self.change.events
        kinds = {e.kind for e in events}
        # A sent post's outbox row is gone after retention; its message, and so its thread, is not.
        threads = await slack_store.channels_of(self.conn, self.incident.id)
        posted = sorted({*await self._targets("slack", "post"), *threads})
        wanted = self.policy.slack_channels(self.incident.severity) if self.incident.status.is_open else []
        for event in events:
            if event.kind == EventKind.ESCALATED:
                wanted += _escalation_targets(event, "slack_channels")
        new_channels = [c for c in dict.fromkeys(wanted) if c not in posted]
        if EventKind.DECLARED in kinds or (
            new_channels and kinds & {EventKind.SEVERITY_RAISED, EventKind.ESCALATED, EventKind.REOPENED}
        ):
            for channel in new_channels:
                await self._post(channel)
        if not posted:
            await self._followups_without_thread()
            return
        if not kinds & _SLACK_UPDATE_KINDS:
            return
        mentions = await mentions_for(self.conn, [n for e in events for n in _escalation_names(e)])
        lines = [line for e in events if (line := messages.change_line(e, mentions))]
        payload = SlackMessage(v=VERSION, snapshot=await self.snap(), changes=lines)
        for channel in posted:
            await self._enqueue("slack", "update", channel, payload)

    async def plug_ins(self) -> None:
        """Other channel plug-ins (email, webhook): a target an escalation named hears this change and
        every later one of the incident, in the channel-neutral form the plug-in renders."""
        events = [e for e in self.change.events if e.kind not in _SILENT]
        if not events:
            return
        told = await store.subscribers(self.conn, self.incident.id, INCIDENT_KIND)
        kinds = {e.kind for e in events}
        if self.incident.status.is_open and kinds & _ROUTED_ON:
            routed = self.policy.routed_targets(self.incident.severity, self.incident.labels)
            told += [pair for pair in routed if pair not in told]
        for event in events:
            escalated = (
                event_payloads.read(event.data, Escalated) if event.kind == EventKind.ESCALATED else None
            )
            for channel, targets in (escalated.targets if escalated is not None else {}).items():
                if channel not in _BUILT_IN_TARGETS:
                    told += [(channel, t) for t in targets if (channel, t) not in told]
        if not told:
            return
        payload = IncidentEvent(
            v=VERSION,
            snapshot=await self.snap(),
            events=[
                {"kind": e.kind, "at": e.at.isoformat(), "actor": e.actor, "data": e.data} for e in events
            ],
        )
        for channel, target in told:
            await self._enqueue(channel, INCIDENT_KIND, target, payload)

    async def _followups_without_thread(self) -> None:
        """A follow-up falling due on an incident Slack never heard of (declared at a severity no channel
        took, or before Slack was routed) would be on the timeline only: it goes to the channel policy
        gives its severity now, else to the policy's first channel, as a message of its own."""
        due = [e for e in self.change.events if e.kind == EventKind.ACTION_ITEM_DUE]
        channel = next(
            iter(
                self.policy.slack_channels(self.incident.severity)
                or [r.channel for r in self.policy.slack_routes]
            ),
            None,
        )
        if not due or channel is None:
            return
        for event in due:
            payload = {
                "what": "followup",
                **{key: event.data.get(key) for key in ("item", "title", "owner", "due", "stage")},
                "incident": self.incident.human_id,
                "incident_title": self.incident.title,
                "url": incident_page_url(self.public_url, self.incident.id),
            }
            await self._enqueue("slack", "notice", channel, payload)

    async def warn_unmentioned(self) -> None:
        """An escalation that could not mention someone says so on the timeline, never silently
        (a kind of our own in _SILENT, so it causes no messages itself)."""
        for event in self.change.events:
            names = _escalation_names(event)
            if not names:
                continue
            known = await mentions_for(self.conn, names)
            missing = [f"{kind} {name}" for kind, name in names if (kind, name) not in known]
            if missing:
                told = event_payloads.read(event.data, Escalated)
                unmentioned = EscalationUnmentioned(level=told.level if told else None, names=missing)
                data = unmentioned.as_data()
                await self.incidents.record_in(
                    self.tx, self.incident, EventKind.ESCALATION_UNMENTIONED, NOTIFICATIONS_ACTOR, data
                )

    async def _post(self, channel: str) -> None:
        payload = SlackMessage(v=VERSION, snapshot=await self.snap())
        limit = self.policy.storm_max_new
        if limit is not None:
            interval = self.policy.storm_interval
            recent = await store.slack_posts_since(self.conn, channel, self.now - interval)
            if recent >= limit:
                await self._coalesce(channel, payload, interval)
                return
        await self._enqueue("slack", "post", channel, payload)

    async def _coalesce(self, channel: str, payload: SlackMessage, interval: timedelta) -> None:
        """Storm: this post waits for the channel's summary at the end of the current interval.

        One summary row per channel and interval, made unique by its idempotency key. The post
        itself stays queued a little later than the summary, so if the summary misses it
        (a race at the boundary) it is still posted on its own rather than lost.
        """
        seconds = interval.total_seconds()
        bucket = math.floor(self.now.timestamp() / seconds)
        end = datetime.fromtimestamp((bucket + 1) * seconds, tz=self.now.tzinfo)
        key = f"storm:{channel}:{bucket}"
        grace = timedelta(seconds=min(5.0, seconds / 4))
        await enqueue(
            self.conn,
            incident_id=self.incident.id,
            channel="slack",
            kind="post",
            target=channel,
            payload=msgspec.structs.replace(payload, storm_key=key),
            now=self.now,
            not_before=end + grace,
        )
        await enqueue(
            self.conn,
            incident_id=None,
            channel="slack",
            kind="storm_summary",
            target=channel,
            payload=StormSummary(v=VERSION, storm_key=key, channel=channel, interval_seconds=seconds),
            now=self.now,
            not_before=end,
            idempotency_key=key,
        )

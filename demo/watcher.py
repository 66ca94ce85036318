"""Watching the story from outside and saying what happened: incidentd's API and what the fakes received."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack

# The demo pack groups by service (demo/rules/app-004.yaml): its one incident has this key.
DEDUP_KEY = 'rules:{service="app"}'


def describe_event(event: dict[str, Any]) -> str:
    data = event.get("data") or {}
    kind = event["kind"]
    who = f"{event['actor']} ({event['source']})"
    if kind in ("declared", "attached"):
        value = data.get("value_text") or data.get("value")
        threshold = data.get("threshold_text")
        return (
            f"{kind} at {data.get('severity')} by {who}: {data.get('rule')} = {value} (threshold {threshold})"
        )
    if kind in ("severity_raised", "severity_lowered"):
        return f"{kind.replace('_', ' ')} {data.get('from')} -> {data.get('to')} by {who}"
    if kind == "escalated":
        targets = data.get("targets") or {}
        told = ", ".join(str(t) for values in targets.values() for t in values)
        return (
            f"escalated to level {data.get('level')} ({data.get('level_name')}, {data.get('reason')}): {told}"
        )
    if kind == "notification_sent":
        return f"notification sent: {data.get('channel')} {data.get('kind')} -> {data.get('target')}"
    if kind in ("alert_cleared", "alert_level_changed"):
        value, reason = data.get("value_text"), data.get("reason")
        shown = f" = {value}" if value else f" ({reason})" if reason else ", no value"
        return f"{kind.replace('_', ' ')}: {data.get('rule')}{shown}"
    note = data.get("note") or data.get("reason") or ""
    return f"{kind.replace('_', ' ')} by {who}" + (f": {note}" if note else "")


class Watcher:
    def __init__(
        self,
        api: str,
        http: aiohttp.ClientSession,
        pagerduty: FakePagerDuty,
        slack: FakeSlack,
        say: Callable[[str], None],
    ) -> None:
        self.api = api
        self.http = http
        self.pagerduty = pagerduty
        self.slack = slack
        self.say = say
        self.incident_id: int | None = None
        self.timeline: list[dict[str, Any]] = []
        self._alerts: dict[tuple[str, str], str] = {}
        self._pd_seen = 0
        self._slack_seen = 0

    async def _json(self, path: str) -> Any:
        async with self.http.get(f"{self.api}{path}") as response:
            response.raise_for_status()
            return await response.json()

    async def poll(self) -> None:
        await self._alerts_changed()
        await self._incident()
        self._deliveries()

    async def _alerts_changed(self) -> None:
        for alert in await self._json("/api/v1/alerts?status=pending,firing,resolved"):
            key = (alert["rule"], alert["group_key"])
            if self._alerts.get(key) != alert["status"]:
                self._alerts[key] = alert["status"]
                level = f" ({alert['level']})" if alert.get("level") else ""
                value = alert.get("value")
                shown = f"value {value:.4g}" if isinstance(value, int | float) else "no value (source down?)"
                self.say(f"rule {alert['rule']}: {alert['status']}{level}, {shown}")

    async def _incident(self) -> None:
        if self.incident_id is None:
            listing = await self._json("/api/v1/incidents?status=all&limit=20")
            items = listing["items"] if isinstance(listing, dict) else listing
            found = [i for i in items if i["dedup_key"] == DEDUP_KEY]
            if not found:
                return
            self.incident_id = int(found[0]["id"])
        detail = await self._json(f"/api/v1/incidents/{self.incident_id}")
        for event in detail["timeline"][len(self.timeline) :]:
            self.timeline.append(event)
            self.say(f"INC-{self.incident_id}: {describe_event(event)}")

    def _deliveries(self) -> None:
        events = self.pagerduty.events
        for event in events[self._pd_seen :]:
            payload = event.get("payload") or {}
            extra = f" severity {payload.get('severity')}: {payload.get('summary')}" if payload else ""
            self.say(
                f"PagerDuty fake received {event['event_action']} (dedup_key {event['dedup_key']}){extra}"
            )
        self._pd_seen = len(events)
        calls = [r for r in self.slack.received if r.get("ok")]
        for call in calls[self._slack_seen :]:
            body = call["body"]
            method = call["path"].rsplit("/", 1)[-1]
            where = body.get("channel", "")
            thread = " (thread reply)" if body.get("thread_ts") else ""
            self.say(f"Slack fake received {method} {where}{thread}: {str(body.get('text', ''))[:90]}")
        self._slack_seen = len(calls)

    async def rules_evaluated(self) -> bool:
        await self.poll()
        rules = await self._json("/api/v1/rules")
        return any(r["last_evaluated_at"] for r in rules["rules"])

    async def incident_open(self) -> bool:
        await self.poll()
        return self.incident_id is not None

    async def has_event(self, kind: str) -> bool:
        await self.poll()
        return any(e["kind"] == kind for e in self.timeline)

    async def escalated_to(self, level: int) -> bool:
        await self.poll()
        return any(e["kind"] == "escalated" and e["data"].get("level") == level for e in self.timeline)

    async def pagerduty_received(self, action: str) -> bool:
        await self.poll()
        return any(e["event_action"] == action for e in self.pagerduty.events)

    async def slack_settled(self) -> bool:
        """Nothing for Slack is waiting in incidentd's outbox (every update has gone out)."""
        await self.poll()
        pending = await self._json(f"/api/v1/notifications?incident_id={self.incident_id}&status=pending")
        return not [n for n in pending["items"] if n["channel"] == "slack"]

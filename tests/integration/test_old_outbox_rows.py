"""Outbox rows written by the previous release (no payload version) are still delivered."""

from __future__ import annotations

import json

from notification_harness import build_notifications, deliver_until, notification_settings, running_fakes

from service.adapters.postgres.database import Database
from service.domain.incidents import Actor
from service.domain.severity import Severity

RULES = Actor(name="rules", source="rules")


async def test_old_format_rows_are_delivered_to_slack_and_pagerduty(db: Database) -> None:
    async with running_fakes() as (pd, slack):
        incidents, sender, _ = build_notifications(db, notification_settings(pd, slack))
        declared = await incidents.declare(
            title="old row", severity=Severity.P3, actor=RULES, dedup_key="old-row"
        )
        incident = declared.incident
        # The snapshot inside is the same in both formats; take the one this incident has.
        written = await db.fetchval(
            "SELECT payload FROM notification_outbox WHERE channel = 'slack' AND kind = 'post'"
        )
        snapshot = written["snapshot"]
        await db.execute("DELETE FROM notification_outbox")  # only what the old release wrote
        old_post = json.dumps({"snapshot": snapshot, "changes": []})
        old_trigger = json.dumps(
            {
                "dedup_key": "old-dedup",
                "summary": "P3 old row",
                "source": "incidentd",
                "severity": "warning",
                "payload": {},
                "custom_details": {"incident": f"INC-{incident.id}"},
                "links": [],
            }
        )
        for channel, kind, target, payload in (
            ("slack", "post", "#alerts", old_post),
            ("pagerduty", "trigger", "default", old_trigger),
        ):
            await db.execute(
                "INSERT INTO notification_outbox (incident_id, channel, kind, target, payload,"
                " next_attempt_at, created_at) VALUES ($1, $2, $3, $4, ($5::text)::jsonb, now(), now())",
                incident.id,
                channel,
                kind,
                target,
                payload,
            )
        await deliver_until([sender], lambda: bool(slack.calls("chat.postMessage")) and bool(pd.events))
        rows = await db.fetch("SELECT status FROM notification_outbox")
    assert {r["status"] for r in rows} == {"sent"}
    assert pd.events[0]["dedup_key"] == "old-dedup"
    assert "old row" in json.dumps(slack.calls("chat.postMessage")[0])

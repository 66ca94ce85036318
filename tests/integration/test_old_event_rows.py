"""Timeline rows the previous release wrote (no `v`) read through the structs: the console's and the
RCA's wording, and the Slack thread's lines, are what they were."""

from __future__ import annotations

from service.adapters.postgres.database import Database
from service.domain.incidents import Actor
from service.domain.rca import summarize_event
from service.domain.severity import Severity
from service.incidents.service import IncidentService
from service.notifications.messages import change_line

RULES = Actor(name="rules", source="rules")
# kind, actor, source, literal JSON as the previous writers stored it
OLD_ROWS = [
    ("acknowledged", "alice", "slack", '{"from": "triggered", "to": "acknowledged", "note": "on it"}'),
    ("severity_raised", "alice", "api", '{"from": "P3", "to": "P1", "reason": "customers see it"}'),
    ("assigned", "alice", "api", '{"from": null, "to": "bob"}'),
    ("retitled", "rules", "rules", '{"from": "old row", "to": "Checkout errors 7%"}'),
    ("note", "bob", "api", '{"text": "rolled back 1.4.2"}'),
    ("silenced", "muting", "system", '{"reasons": ["silence 12"], "alerts": 2}'),
    ("resolved", "bob", "api", '{"from": "acknowledged", "to": "resolved", "note": "fixed"}'),
    ("escalation_exhausted", "escalation", "system", '{"level": 4, "level_name": "CTO", "attempts": 3}'),
]


async def test_old_timeline_rows_are_worded_as_before(db: Database) -> None:
    incidents = IncidentService(db)
    declared = await incidents.declare(title="old row", severity=Severity.P3, actor=RULES, dedup_key="o")
    incident_id = declared.incident.id
    for kind, actor, source, data in OLD_ROWS:
        await db.execute(
            "INSERT INTO incident_events (incident_id, at, kind, actor, source, data)"
            " VALUES ($1, now(), $2, $3, $4, ($5::text)::jsonb)",
            incident_id,
            kind,
            actor,
            source,
            data,
        )
    _, timeline = await incidents.get(incident_id)
    old = [e for e in timeline if e.kind != "declared"]
    assert [e.kind for e in old] == [kind for kind, *_ in OLD_ROWS]
    assert [summarize_event(e) for e in old] == [
        "acknowledged: on it",
        "severity raised P3 → P1: customers see it",
        "assigned to bob",
        'title changed to "Checkout errors 7%" (was "old row")',
        "note: rolled back 1.4.2",
        "silenced (alerts=2)",
        "resolved: fixed",
        "escalation exhausted: every level was told",
    ]
    lines = [change_line(e) for e in old]
    assert lines[0] is not None
    assert lines[0].endswith("Acknowledged by alice: on it")
    assert lines[1] is not None
    assert lines[1].startswith("Severity raised P3 → P1 by alice")
    assert lines[1].endswith("(customers see it)")
    assert lines[2] is not None
    assert lines[2].startswith("Assigned to bob by")
    assert lines[4] is not None
    assert lines[4].endswith(": rolled back 1.4.2")
    assert lines[5] == ":mute: Every firing alert is muted (silence 12): escalation paused"
    assert lines[6] is not None
    assert lines[6].endswith("fixed")

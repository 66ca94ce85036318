"""The daily summary's facts, read from the incidents and their timeline in one connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import asyncpg

from service.domain.daily_summary import WINDOW, FollowUp, RcaState, RuleNoise, SummaryFacts, SummaryIncident
from service.domain.severity import Severity
from service.rca.action_items_store import due_action_items

# Where follow-ups come from; None: nothing records them (the summary says so instead of "none due").
FollowUpSource = Callable[[asyncpg.Connection, datetime], Awaitable[Sequence[FollowUp]]]
RCA_LOOKBACK = timedelta(days=7)  # resolved incidents older than this no longer appear as RCAs due

_INCIDENT_COLUMNS = """
    i.id, i.title, i.severity, i.status, coalesce(i.labels->>'service', '') AS service, i.created_at,
    i.resolved_at,
    coalesce(i.assignee, CASE WHEN i.status IN ('acknowledged', 'mitigated') THEN
        (SELECT e.actor FROM incident_events e WHERE e.incident_id = i.id AND e.kind = 'acknowledged'
         ORDER BY e.id DESC LIMIT 1) END) AS holder,
    (SELECT min(e.at) FROM incident_events e WHERE e.incident_id = i.id AND e.kind = 'acknowledged')
        AS acknowledged_at
"""
_TOUCHED = f"""
    SELECT {_INCIDENT_COLUMNS} FROM incidents i WHERE i.id IN (
        SELECT id FROM incidents WHERE created_at >= $1 AND created_at < $2
        UNION SELECT incident_id FROM incident_events
              WHERE kind IN ('acknowledged', 'resolved') AND at >= $1 AND at < $2)
"""  # noqa: S608 - constants only; values go as $n
_OPEN = f"SELECT {_INCIDENT_COLUMNS} FROM incidents i WHERE i.status <> 'resolved' AND i.created_at < $1"  # noqa: S608
_PAGES = """
    SELECT e.data->>'target' AS target, count(*) AS pages FROM incident_events e
    WHERE e.kind = 'notification_sent' AND e.at >= $1 AND e.at < $2
      AND e.data->>'channel' = 'pagerduty' AND e.data->>'kind' = 'trigger'
    GROUP BY 1 ORDER BY 2 DESC, 1
"""
_RULES = """
    SELECT e.data->>'rule' AS rule,
           count(DISTINCT e.incident_id) FILTER (WHERE e.kind = 'declared') AS incidents,
           count(*) FILTER (WHERE e.kind = 'retriggered') AS flaps
    FROM incident_events e
    WHERE e.kind IN ('declared', 'retriggered') AND e.at >= $1 AND e.at < $2 AND e.data ? 'rule'
    GROUP BY 1
"""
_RCAS = """
    SELECT i.id, i.title, i.severity, i.resolved_at,
           EXISTS (SELECT 1 FROM rca_versions v WHERE v.incident_id = i.id AND v.reason = 'edited')
               AS edited_by_person
    FROM incidents i
    WHERE i.status = 'resolved' AND i.resolved_at >= $1 AND i.resolved_at < $2
      AND i.severity = ANY($3::smallint[])
"""


async def action_item_followups(conn: asyncpg.Connection, end: datetime) -> list[FollowUp]:
    """The action items open and due on the summary's day or before, on the summary's connection."""
    return [
        FollowUp(ref=i.ref, incident_id=i.incident_id, owner=i.owner, due_on=i.due_on, text=i.title)
        for i in await due_action_items(conn, end)
    ]


def _incident(row: asyncpg.Record) -> SummaryIncident:
    return SummaryIncident(
        id=row["id"],
        title=row["title"],
        severity=Severity(row["severity"]),
        status=row["status"],
        service=row["service"],
        holder=row["holder"],
        created_at=row["created_at"],
        acknowledged_at=row["acknowledged_at"],
        resolved_at=row["resolved_at"],
    )


async def read_facts(
    conn: asyncpg.Connection,
    end: datetime,
    rca_severities: Sequence[Severity],
    followups: FollowUpSource | None = None,
) -> SummaryFacts:
    start = end - WINDOW
    touched = [_incident(r) for r in await conn.fetch(_TOUCHED, start, end)]
    still_open = [_incident(r) for r in await conn.fetch(_OPEN, end)]
    pages = [(r["target"] or "(none)", int(r["pages"])) for r in await conn.fetch(_PAGES, start, end)]
    rules = [
        RuleNoise(rule=r["rule"], incidents=int(r["incidents"]), flaps=int(r["flaps"]))
        for r in await conn.fetch(_RULES, start, end)
    ]
    rcas = [
        RcaState(
            id=r["id"],
            title=r["title"],
            severity=Severity(r["severity"]),
            resolved_at=r["resolved_at"],
            edited_by_person=r["edited_by_person"],
        )
        for r in await conn.fetch(_RCAS, end - RCA_LOOKBACK, end, [int(s) for s in rca_severities])
    ]
    return SummaryFacts(
        end=end,
        incidents=touched,
        still_open=still_open,
        pages=sum(n for _, n in pages),
        pages_by_target=pages,
        rules=rules,
        rcas=rcas,
        followups=None if followups is None else await followups(conn, end),
    )

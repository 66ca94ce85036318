"""An open incident whose firing alerts are all muted is shown as silenced and stops escalating.

Each alert door (our rules, pushed alerts) hands over its open incidents with the verdicts
of their firing alerts; this writes the `silenced` / `unsilenced` timeline events (which
the escalation observer treats like acknowledge / unacknowledge) and the incident_mutes
row, once per change, under the incident's row lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from service.domain.event_kinds import EventKind
from service.domain.event_payloads import Silenced
from service.domain.incidents import Actor
from service.domain.mute_verdicts import Verdict
from service.incidents.service import IncidentChange, IncidentService, IncidentTransaction

MUTING_ACTOR = Actor(name="silences", source="silences")


async def reconcile(
    tx: IncidentTransaction,
    incidents: IncidentService,
    verdicts: Mapping[int, Sequence[Verdict]],
) -> list[IncidentChange]:
    """`verdicts`: per open incident, one verdict per firing alert (an incident with none is left alone)."""
    conn = tx.conn
    changes: list[IncidentChange] = []
    marked = {
        r["incident_id"]
        for r in await conn.fetch(
            "SELECT incident_id FROM incident_mutes WHERE incident_id = ANY($1::bigint[])", list(verdicts)
        )
    }
    now = incidents.clock()
    for incident_id in sorted(verdicts):
        found = verdicts[incident_id]
        if not found:
            continue
        all_muted = all(v.muted for v in found)
        if all_muted == (incident_id in marked):
            continue
        incident = await incidents.find_locked_in(tx, incident_id)
        if incident is None or not incident.status.is_open:
            continue
        reasons = sorted({r for v in found for r in v.reasons()})
        if all_muted:
            inserted = await conn.fetchval(
                "INSERT INTO incident_mutes (incident_id, since, reasons) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING RETURNING incident_id",
                incident_id,
                now,
                reasons,
            )
            if inserted is None:
                continue
            kind, data = EventKind.SILENCED, Silenced(reasons=list(reasons), alerts=len(found)).as_data()
        else:
            deleted = await conn.fetchval(
                "DELETE FROM incident_mutes WHERE incident_id = $1 RETURNING incident_id", incident_id
            )
            if deleted is None:
                continue
            firing = sum(1 for v in found if not v.muted)
            kind, data = EventKind.UNSILENCED, Silenced(alerts_firing_unmuted=firing).as_data()
        changes.append(await incidents.record_in(tx, incident, kind, MUTING_ACTOR, data))
    return changes


async def forget_closed(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "DELETE FROM incident_mutes m USING incidents i WHERE i.id = m.incident_id AND i.status = 'resolved'"
    )

"""Alerts of rules that are no longer evaluated (removed from the files, or disabled) resolve at once.

Without this a removed rule's alerts would stay "firing" forever, and their
incidents open: nothing evaluates them any more. Each replica sweeps after every
accepted reload and once at start, in one transaction: firing alerts become
resolved (as if they had cleared), pending ones are dropped, and each incident
they belonged to gets an `alert_cleared` event saying why, then clears the way a
cleared alert clears it (mitigated, or resolved for an `auto_resolve` rule) when
nothing else in its group fires. The `UPDATE ... RETURNING` makes a second
replica sweeping at the same moment find nothing left to do.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from service.alerting import state_reads as alert_states
from service.domain.incidents import Action, Actor, Status
from service.domain.rules import Rule
from service.incidents.service import IncidentChange, IncidentService, IncidentTransaction

REASON = "rule removed from the rule files (or disabled)"


def clearing_action(status: Status, *, auto_resolve: bool) -> Action | None:
    """What a group's last clearing alert does to its incident."""
    if auto_resolve and status is not Status.RESOLVED:
        return Action.RESOLVE
    if status in (Status.TRIGGERED, Status.ACKNOWLEDGED):
        return Action.MITIGATE
    return None


async def resolve_removed(
    tx: IncidentTransaction,
    incidents: IncidentService,
    actor: Actor,
    evaluated: Collection[str],
    retired: Mapping[str, Rule],
    now: datetime,
) -> list[IncidentChange]:
    """Resolve the alerts of every rule not in `evaluated`; `retired` holds the definitions this process
    still knows (for `auto_resolve`). Returns the incidents it cleared."""
    conn = tx.conn
    names = list(evaluated)
    await conn.execute("DELETE FROM alert_states WHERE status = 'pending' AND rule <> ALL($1::text[])", names)
    rows = await conn.fetch(
        """
        UPDATE alert_states SET status = 'resolved', resolved_at = $2, updated_at = $2
        WHERE status = 'firing' AND rule <> ALL($1::text[])
        RETURNING rule, group_key
        """,
        names,
        now,
    )
    groups: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = groups.setdefault(row["group_key"], {})
        counts[row["rule"]] = counts.get(row["rule"], 0) + 1
    changes: list[IncidentChange] = []
    for key in sorted(groups):
        incident = await incidents.lock_open_in(tx, key)
        if incident is None:
            continue
        still = await alert_states.firing_in_group(conn, key)
        for rule, count in sorted(groups[key].items()):
            details = {"rule": rule, "group_key": key, "series_count": count, "still_firing": still}
            await incidents.record_in(tx, incident, "alert_cleared", actor, {**details, "reason": REASON})
        if still:
            continue
        old = [retired[name] for name in groups[key] if name in retired]
        action = clearing_action(incident.status, auto_resolve=bool(old) and all(r.auto_resolve for r in old))
        if action is not None:
            changes.append(await incidents.act_in(tx, incident.id, action, actor, details={"reason": REASON}))
    return changes

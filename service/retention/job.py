"""Retention: what is finished and old enough is deleted, daily, once across replicas, in small batches.

Each batch is its own short transaction (rows another transaction holds are skipped
and taken next time), so the job never holds locks the sender, the escalation worker
or the API would wait for. The replica that inserts the day's `retention_runs` row
does the day's run; one that died unfinished can be taken over after an hour.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog

from service.adapters.postgres.database import Database
from service.clock import Clock
from service.dependencies import Key
from service.domain.retention import RetentionPolicy
from service.supervisor import progress, sleep_or_stop

log = structlog.get_logger(__name__)

CHECK_EVERY = 600.0  # seconds between "is today's run done?" checks
STALL_AFTER = 3 * CHECK_EVERY


# (name, age setting, statement deleting one batch older than $1, at most $2 rows)
_AGED = (
    (
        "sent_notifications",
        "sent_notifications_days",
        "DELETE FROM notification_outbox WHERE id IN (SELECT id FROM notification_outbox"
        " WHERE status IN ('sent', 'coalesced') AND sent_at < $1 ORDER BY sent_at LIMIT $2"
        " FOR UPDATE SKIP LOCKED)",
    ),
    (
        "notification_attempts",
        "sent_notifications_days",
        "DELETE FROM notification_attempts WHERE outbox_id IN (SELECT a.outbox_id FROM"
        " notification_attempts a WHERE a.last_at < $1 AND NOT EXISTS (SELECT 1 FROM notification_outbox o"
        " WHERE o.id = a.outbox_id AND o.status IN ('pending', 'held')) ORDER BY a.last_at LIMIT $2"
        " FOR UPDATE SKIP LOCKED)",
    ),
    (
        "escalation_steps",
        "escalation_steps_days",
        "DELETE FROM escalation_steps WHERE id IN (SELECT id FROM escalation_steps"
        " WHERE state <> 'pending' AND finished_at < $1 ORDER BY finished_at LIMIT $2"
        " FOR UPDATE SKIP LOCKED)",
    ),
    (
        "rule_evaluations",
        "rule_evaluations_days",
        "DELETE FROM rule_evaluations WHERE rule IN (SELECT rule FROM rule_evaluations"
        " WHERE evaluated_at < $1 ORDER BY evaluated_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    ),
    (
        "alert_value_samples",
        "rule_evaluations_days",
        "DELETE FROM alert_value_samples WHERE ctid IN (SELECT ctid FROM alert_value_samples"
        " WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    ),
    # A source still in the rule files is read every interval, so only a removed one (or one no rule
    # reads any more, or whose variable was unset) has no read this recent.
    (
        "source_statuses",
        "rule_evaluations_days",
        "DELETE FROM source_statuses WHERE (kind, source, instance) IN (SELECT kind, source, instance"
        " FROM source_statuses WHERE read_at < $1 ORDER BY read_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    ),
    # Only ended occurrences: an open one still owes Slack its warning and its end.
    (
        "maintenance_notices",
        "sent_notifications_days",
        "DELETE FROM maintenance_notices WHERE (window_key, occurrence) IN (SELECT window_key, occurrence"
        " FROM maintenance_notices WHERE ended_at < $1 ORDER BY ended_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    ),
)
_SLACK_SIGNATURES = (
    "DELETE FROM slack_request_signatures WHERE digest IN (SELECT digest FROM slack_request_signatures"
    " WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
)
_RCA_VERSIONS = """
    DELETE FROM rca_versions v USING (
        SELECT r.incident_id, r.version FROM rca_versions r
        JOIN rca_documents d USING (incident_id)
        JOIN (SELECT incident_id, max(version) AS newest FROM rca_versions GROUP BY incident_id) m
          USING (incident_id)
        WHERE r.version <> d.current_version AND r.version <= m.newest - $1
        LIMIT $2) old
    WHERE v.incident_id = old.incident_id AND v.version = old.version
"""


class Retention:
    def __init__(self, db: Database, policy: RetentionPolicy, clock: Clock, runner: str) -> None:
        self._db = db
        self._policy = policy
        self._clock = clock
        self._runner = runner

    async def loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.run_if_due()
            progress()
            if await sleep_or_stop(stop, CHECK_EVERY):
                return

    async def run_if_due(self) -> dict[str, int] | None:
        """Today's run, if this replica wins it; None when it is done or under way elsewhere."""
        now = self._clock()
        claimed = await self._db.fetchval(
            "INSERT INTO retention_runs (day, started_at, runner) VALUES ($1, $2, $3)"
            " ON CONFLICT (day) DO UPDATE SET started_at = EXCLUDED.started_at, runner = EXCLUDED.runner"
            " WHERE retention_runs.finished_at IS NULL"
            " AND retention_runs.started_at < EXCLUDED.started_at - interval '1 hour'"
            " RETURNING day",
            now.date(),
            now,
            self._runner,
        )
        if claimed is None:
            return None
        deleted = await self.purge(now)
        await self._db.execute(
            "UPDATE retention_runs SET finished_at = $2, deleted = $3 WHERE day = $1",
            now.date(),
            self._clock(),
            deleted,
        )
        log.info("retention_done", **deleted)
        return deleted

    async def purge(self, now: datetime) -> dict[str, int]:
        policy = self._policy
        deleted: dict[str, int] = {}
        for name, setting, statement in _AGED:
            days = int(getattr(policy, setting))
            if days > 0:
                deleted[name] = await self._batches(statement, now - timedelta(days=days))
        deleted["slack_request_signatures"] = await self._batches(_SLACK_SIGNATURES, now)
        if policy.rca_versions > 0:
            deleted["rca_versions"] = await self._batches(_RCA_VERSIONS, policy.rca_versions, rca=True)
        return deleted

    async def _batches(self, statement: str, bound: object, *, rca: bool = False) -> int:
        total = 0
        while True:
            async with self._db.transaction() as conn:
                if rca:  # the immutability trigger lets retention, and only retention, delete
                    await conn.execute("SET LOCAL incidentd.retention = 'on'")
                result: str = await conn.execute(statement, bound, self._policy.batch)
            count = int(result.rsplit(maxsplit=1)[-1])
            total += count
            progress()
            if count < self._policy.batch:
                return total
            await asyncio.sleep(0)  # let everyone else's queries in between batches


RETENTION: Key[Retention] = Key("retention")

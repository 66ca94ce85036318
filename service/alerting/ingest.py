"""Pushed alerts in, incident changes out: the same incidents, escalation and notifications as our rules.

One transaction per lot (the batches that arrived while the previous lot was written:
alerting/coalescing.py). Its first statement locks what is stored and refreshes the
alerts re-sent while firing, which is all a re-send costs: no incident change, no
timeline event, no page. The rest (new, resolved, firing again) are upserted in one
more statement, after one open or attach per newly firing group; groups whose last
alert resolved are cleared. An alert muted when it starts firing
is stored with no incident; the sweeper (alerting/mute_sweeping.py) pages it if it
is still firing when the mute ends.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence

import asyncpg
import structlog
from prometheus_client import Counter

from service.adapters.postgres.database import Database
from service.alerting import pushed_store as store
from service.alerting.coalescing import Coalescer
from service.alerting.early_release import committed
from service.alerting.pushed import (
    Origin,
    PushedAlert,
    details,
    group_labels,
    pushed_group_key,
    pushed_severity,
    title,
)
from service.alerting.removed_rules import clearing_action
from service.clock import Clock
from service.config.pushed_policy import PushedPolicy
from service.dependencies import Key
from service.domain.incidents import Actor, Status
from service.domain.mute_verdicts import NOT_MUTED, MuteSnapshot, Verdict
from service.incidents.service import IncidentService, IncidentTransaction
from service.silences.incident_mutes import reconcile
from service.silences.snapshot import Muter

log = structlog.get_logger(__name__)

PUSHED = Counter("incidentd_pushed_alerts_total", "Pushed alerts by what they changed", ["outcome"])
SEEN_AT_MOST = 200_000
# Lots written at once: a few transactions in flight hide the round trips' latency (measured: 2 to 4 times
# the rate of one at a time on a loaded machine); what arrives beyond them waits and is written as one lot.
WRITERS = 4
ANALYZE_AFTER = 1_000  # new rows, or half the table if more, before the planner's statistics are refreshed
ACTORS = {
    Origin.PROMETHEUS: Actor(name="prometheus", source="prometheus"),
    Origin.ALERTMANAGER: Actor(name="alertmanager", source="alertmanager"),
}


class PushedAlerts:
    def __init__(
        self,
        db: Database,
        incidents: IncidentService,
        muter: Muter,
        clock: Clock,
        *,
        policy: PushedPolicy | None = None,
    ) -> None:
        self.db = db
        self.incidents = incidents
        self.muter = muter
        self.clock = clock
        self.policy = policy or PushedPolicy()
        self.group_by = self.policy.group_by
        self.auto_resolve = self.policy.auto_resolve
        self._coalescer: Coalescer[PushedAlert] = Coalescer(self._write, writers=WRITERS)
        self._seen_firing: set[str] = set()
        self._inserted = 0
        self._rows_when_analyzed = 0
        self._analyzing: asyncio.Task[None] | None = None

    def group_key(self, alert: PushedAlert) -> str:
        return pushed_group_key(alert.labels, self.group_by, self.policy.group_by_fallbacks)

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        return group_labels(labels, self.group_by, self.policy.group_by_fallbacks)

    async def ingest(self, alerts: Sequence[PushedAlert]) -> None:
        """Store a batch, durably, before returning; batches submitted meanwhile share the transaction."""
        if alerts:
            await self._coalescer.submit(alerts)

    async def _write(self, alerts: list[PushedAlert]) -> None:
        """One lot of batches: the last word on each alert wins (an alert that fired and resolved within
        one lot never pages, as Alertmanager's group_wait would have it); a deadlock with another
        replica's lot (PostgreSQL picks one to abort) is retried."""
        latest = {a.fingerprint: a for a in alerts}
        alerts = [latest[k] for k in sorted(latest)]
        alerts = await self._refresh_known(alerts)
        alerts = await self._join_open(alerts)
        for attempt in range(3):
            try:
                await self._ingest(alerts)
                self._remember(alerts)
                return
            except asyncpg.DeadlockDetectedError:
                if attempt == 2:
                    raise
                log.warning("pushed_batch_deadlock_retried", alerts=len(alerts))

    async def _refresh_known(self, alerts: list[PushedAlert]) -> list[PushedAlert]:
        """A lot this replica has seen firing before is most likely a re-send: one statement, committed
        by itself, refreshes those the database agrees are firing; the rest take the full road. Which
        fingerprints were seen is only a hint for choosing the road, never a verdict."""
        now = self.clock()
        known = [a for a in alerts if a.fingerprint in self._seen_firing and a.firing(now)]
        if not known:
            return alerts
        done = (await committed(self.db, lambda conn: store.refresh_and_lock(conn, known, now))).fingerprints
        PUSHED.labels(outcome="refreshed").inc(len(done))
        return [a for a in alerts if a.fingerprint not in done]

    async def _join_open(self, alerts: list[PushedAlert]) -> list[PushedAlert]:
        """Alerts this replica has not seen, judged with the mute snapshot it holds, are stored in one
        statement if their group's incident is open and they change nothing about it: no event, no page,
        exactly what the full road would do for them. Not taken when the lot holds an alert that can
        inhibit others (the full road judges the lot with it)."""
        now = self.clock()
        fresh = [a for a in alerts if a.fingerprint not in self._seen_firing and a.firing(now)]
        snapshot = self.muter.reusable(now) if fresh else None
        if snapshot is None or self.muter.new_sources(fresh):
            return alerts
        rows = [
            store.Row(
                alert=a,
                group_key=self.group_key(a),
                severity=int(pushed_severity(a.labels)),
                verdict=snapshot.verdict(a.labels, a.fingerprint),
            )
            for a in fresh
        ]
        try:
            done = await committed(
                self.db, lambda conn: store.insert_joining(conn, rows, now, snapshot.generation)
            )
        except asyncpg.DeadlockDetectedError:
            return alerts
        if not done:
            return alerts
        PUSHED.labels(outcome="started").inc(len(done))
        self._count_inserted(len(done))
        self._remember([a for a in fresh if a.fingerprint in done])
        return [a for a in alerts if a.fingerprint not in done]

    def _remember(self, alerts: Sequence[PushedAlert]) -> None:
        now = self.clock()
        if len(self._seen_firing) > SEEN_AT_MOST:
            self._seen_firing.clear()
        for alert in alerts:
            if alert.firing(now):
                self._seen_firing.add(alert.fingerprint)
            else:
                self._seen_firing.discard(alert.fingerprint)

    async def _ingest(self, alerts: Sequence[PushedAlert]) -> None:
        if not alerts:
            return
        now = self.clock()
        async with self.incidents.transaction() as tx:
            conn = tx.conn
            found = await store.refresh_and_lock(conn, alerts, now)
            refreshed, previous = found.fingerprints, found.previous
            rest = [a for a in alerts if a.fingerprint not in refreshed] if refreshed else list(alerts)
            new = len(rest) - len(previous)
            starting = [
                a
                for a in rest
                if a.firing(now)
                and (a.fingerprint not in previous or previous[a.fingerprint].status != "firing")
            ]
            snapshot = (
                await self.muter.snapshot(conn, now, generation=found.mute_generation) if starting else None
            )
            sources = self.muter.new_sources(starting)
            if snapshot is not None and sources:
                snapshot = snapshot.adding_sources(sources)  # a critical and its warnings in one batch
            verdicts = (
                {a.fingerprint: snapshot.verdict(a.labels, a.fingerprint) for a in starting}
                if snapshot
                else {}
            )
            rows = [
                store.Row(
                    alert=a,
                    group_key=self.group_key(a),
                    severity=int(pushed_severity(a.labels)),
                    verdict=verdicts.get(a.fingerprint, NOT_MUTED),
                )
                for a in rest
            ]
            firing = [r for r in rows if r.alert.fingerprint in verdicts and not r.verdict.muted]
            links = await self.incidents_for(tx, firing)
            await store.upsert(conn, rows, now, list(verdicts), links)
            ended = [
                r for r in rows if not r.alert.firing(now) and _was_firing(previous.get(r.alert.fingerprint))
            ]
            await self.clear(tx, [(r.group_key, r.alert) for r in ended])
        PUSHED.labels(outcome="started").inc(len(starting))
        PUSHED.labels(outcome="resolved").inc(len(ended))
        PUSHED.labels(outcome="refreshed").inc(len(alerts) - len(starting) - len(ended))
        if sources:
            self.muter.forget()  # the next batch must see the new inhibiting alerts
        self._count_inserted(new)

    def _count_inserted(self, rows: int) -> None:
        """PostgreSQL plans our statements once per connection with the statistics of that moment and
        keeps the plan until the statistics change; autovacuum looks only once a minute. A plan made
        while the table was nearly empty scans it whole for every lot once an alert storm has filled
        it (30 ms instead of 1 ms per lot). So the table is analyzed, off the request path, whenever it
        has grown by half (at least ANALYZE_AFTER rows) since the last time."""
        self._inserted += rows
        if self._inserted < max(ANALYZE_AFTER, self._rows_when_analyzed // 2):
            return
        if self._analyzing is None or self._analyzing.done():
            self._inserted = 0
            self._analyzing = asyncio.create_task(self._analyze())

    async def _analyze(self) -> None:
        try:
            async with self.db.connection() as conn:
                self._rows_when_analyzed = await store.analyze(conn)
        except Exception:  # statistics are an optimisation: a failure costs speed, never an alert
            log.warning("pushed_alerts_analyze_failed", exc_info=True)

    async def incidents_for(self, tx: IncidentTransaction, rows: Sequence[store.Row]) -> dict[str, int]:
        """The incident each newly firing alert opens or joins, by fingerprint: one declare (or attach)
        per group, headlined by its most severe alert. More alerts joining an open incident that they
        neither make worse nor bring back (mitigated) are linked to it without a timeline event: an
        alert storm of 20,000 is one incident, not 20,000 "attached" lines; they are listed in the
        incident's `extras.pushed_alerts`. The caller writes the links with the alerts' rows."""
        groups: dict[str, list[store.Row]] = defaultdict(list)
        for row in rows:
            groups[row.group_key].append(row)
        if not groups:
            return {}
        opened = await self.incidents.lock_open_many_in(tx, sorted(groups), shared=True)
        links: dict[str, int] = {}
        for key, members in sorted(groups.items()):
            worst = min(members, key=lambda r: r.severity)
            alert = worst.alert
            severity = pushed_severity(alert.labels)
            found = opened.get(key)
            if found is None or found.status is Status.MITIGATED or severity < found.severity:
                kept = (*self.group_by, *self.policy.group_by_fallbacks.values(), "job", "team", "severity")
                labels = {k: v for k, v in alert.labels.items() if k in kept}
                result, _ = await self.incidents.declare_in(
                    tx,
                    title=title(alert),
                    severity=severity,
                    actor=ACTORS[alert.origin],
                    dedup_key=key,
                    labels={**labels, "alertname": alert.labels.get("alertname", "")},
                    description=alert.annotations.get("description", ""),
                    details=details(alert, key, len(members)),
                )
                found = result.incident
            links.update((m.alert.fingerprint, found.id) for m in members)
        return links

    async def fire(self, tx: IncidentTransaction, rows: Sequence[store.Row]) -> None:
        """Open or join the incidents of alerts already stored (released by the sweeper)."""
        await store.link_many(tx.conn, list((await self.incidents_for(tx, rows)).items()))

    async def clear(self, tx: IncidentTransaction, ended: Sequence[tuple[str, PushedAlert]]) -> None:
        """Record each group's resolved alerts; the incident resolves once its group has none firing."""
        groups: dict[str, list[PushedAlert]] = defaultdict(list)
        for key, alert in ended:
            groups[key].append(alert)
        for key, alerts in sorted(groups.items()):
            incident = await self.incidents.lock_open_in(tx, key)
            if incident is None:
                continue
            still = await store.firing_in_group(tx.conn, key)
            last = alerts[-1]
            actor = ACTORS[last.origin]
            data = {**details(last, key, len(alerts)), "still_firing": still}
            await self.incidents.record_in(tx, incident, "alert_cleared", actor, data)
            if still == 0:
                action = clearing_action(incident.status, auto_resolve=self.auto_resolve)
                if action is not None:
                    await self.incidents.act_in(
                        tx, incident.id, action, actor, details={"reason": "alert resolved"}
                    )

    async def expire(self) -> int:
        """Resolve alerts whose endsAt passed without a re-send, as Alertmanager does."""
        now = self.clock()
        async with self.incidents.transaction() as tx:
            rows = await store.claim_lapsed(tx.conn, now)
            await self.clear(tx, [(r["group_key"], store.alert_from_row(r)) for r in rows])
        PUSHED.labels(outcome="lapsed").inc(len(rows))
        return len(rows)

    async def sweep(self, *, full: bool) -> int:
        """Page alerts that fired while muted and are muted no more (once: the row gets its incident in
        the same transaction), and mark or unmark open incidents whose alerts are all muted. `full`
        also re-judges the incidents; the sweeper asks for it when what mutes alerts has changed."""
        now = self.clock()
        async with self.incidents.transaction() as tx:
            conn = tx.conn
            rows = await store.claim_unattached(conn)
            if not rows and not full:
                return 0
            snapshot = await self.muter.snapshot(conn, now)
            released: list[store.Row] = []
            changed: list[tuple[str, Verdict]] = []
            for row in rows:
                alert = store.alert_from_row(row)
                verdict = snapshot.verdict(alert.labels, alert.fingerprint)
                stored = (tuple(row["silenced_by"]), tuple(row["inhibited_by"]), tuple(row["muted_windows"]))
                if verdict.muted:
                    if stored != (verdict.silenced_by, verdict.inhibited_by, verdict.windows):
                        changed.append((alert.fingerprint, verdict))  # rewritten only when it changed
                else:
                    released.append(
                        store.Row(
                            alert=alert, group_key=row["group_key"], severity=row["severity"], verdict=verdict
                        )
                    )
                    changed.append((alert.fingerprint, verdict))
            await store.set_verdicts(conn, changed)
            await self.fire(tx, released)
            if full:
                await reconcile(tx, self.incidents, await _open_incident_verdicts(conn, snapshot))
        return len(released)


def _was_firing(previous: store.Previous | None) -> bool:
    return previous is not None and previous.status == "firing"


async def _open_incident_verdicts(
    conn: asyncpg.Connection, snapshot: MuteSnapshot
) -> dict[int, list[Verdict]]:
    rows = await conn.fetch(
        "SELECT p.incident_id, p.fingerprint, p.labels FROM pushed_alerts p JOIN incidents i"
        " ON i.id = p.incident_id WHERE p.status = 'firing' AND i.status <> 'resolved'"
    )
    found: dict[int, list[Verdict]] = defaultdict(list)
    for row in rows:
        found[row["incident_id"]].append(snapshot.verdict(row["labels"], row["fingerprint"]))
    return found


PUSHED_ALERTS: Key[PushedAlerts] = Key("pushed_alerts")

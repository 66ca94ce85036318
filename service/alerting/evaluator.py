"""The evaluation loop: collect what due rules read, step their alert states, open and clear incidents.

Each rule runs once per interval slot across all replicas: the slot is claimed
in the transaction that loads and stores the rule's alert states and applies its
incident changes, so a crash anywhere rolls all of it back together and the next
tick (here or in another replica) does it again, once. Several replicas each
collect (like Prometheus HA pairs); only one wins each rule's slot.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter as Counter_
from collections.abc import Mapping, Sequence
from datetime import datetime

import asyncpg
import msgspec
import structlog
from prometheus_client import Counter, Histogram

from service.adapters.postgres.database import Database, DatabaseUnavailable
from service.alerting import rule_mutes
from service.alerting import state_reads as alert_states
from service.alerting import state_store as store
from service.alerting.evaluation_rounds import (
    CachedStates,
    batches,
    refresh_every,
    worst_value,
)
from service.alerting.removed_rules import clearing_action, resolve_removed
from service.alerting.rulebook import RuleBook
from service.alerting.source_health import (
    SourceHealth,
    errors_by_rule,
    source_down_rule,
    source_down_values,
)
from service.alerting.value_samples import ValueSampler
from service.alerting.value_source import ValueSource, Work
from service.cancellation import reraise_if_cancelling
from service.clock import Clock
from service.domain.alert_incidents import GroupPlan, plan_group
from service.domain.alerts import slot_of as alert_slot
from service.domain.evaluation import RuleTransition, evaluate, group_transitions
from service.domain.incident_alerts import readings, worst_firing
from service.domain.incidents import Actor, Incident, TimelineEvent
from service.domain.mute_verdicts import MuteSnapshot
from service.domain.rules import Rule
from service.incidents.service import DeclareRequest, IncidentService, IncidentTransaction
from service.silences.incident_mutes import reconcile
from service.silences.snapshot import Muter
from service.supervisor import progress, sleep_or_stop

log = structlog.get_logger(__name__)

RULES_ACTOR = Actor(name="rules", source="rules")
MAX_IDLE = 1.0
_DATABASE_GONE = (DatabaseUnavailable, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)

EVALUATIONS = Counter("incidentd_rule_evaluations_total", "Rule evaluations by outcome", ["outcome"])
EVALUATION_SECONDS = Histogram(
    "incidentd_rule_evaluation_seconds",
    "Time to evaluate one batch of rules (up to 500) and store their state",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TRANSITIONS = Counter("incidentd_alert_transitions_total", "Alert state transitions", ["kind"])


def slot_of(rule: Rule, at: datetime) -> int:
    return alert_slot(at, rule.interval)


class Evaluator:
    def __init__(
        self,
        *,
        db: Database,
        incidents: IncidentService,
        rulebook: RuleBook,
        source: ValueSource,
        clock: Clock,
        muter: Muter | None = None,
    ) -> None:
        self._muter = muter
        self._db = db
        self._incidents = incidents
        self._rulebook = rulebook
        self._source = source
        self._clock = clock
        self._done_slots: dict[str, int] = {}
        self._cache: dict[str, CachedStates] = {}
        self._writer = uuid.uuid4().hex
        self._swept_generation: int | None = None
        self._held: Mapping[str, Sequence[Mapping[str, str]]] = {}
        self._samples = ValueSampler()

    def due_rules(self, now: datetime) -> list[Rule]:
        return [
            rule
            for rule in self._rulebook.current.enabled_rules()
            if self._done_slots.get(rule.name, -1) < slot_of(rule, now)
        ]

    async def tick(self) -> int:
        """Evaluate every due rule once; returns how many rules this replica evaluated."""
        now = self._clock()
        if self._swept_generation != self._rulebook.generation:
            await self.sweep_removed_rules(now)
        due = self.due_rules(now)
        if not due:
            return 0
        collection = await self._source.collect(due, now)
        work: list[Work] = [(rule, collection.values.get(rule.name), None) for rule in due]
        self._held = collection.held
        errors = errors_by_rule(collection.statuses)
        by_source: dict[tuple[str, str], list[SourceHealth]] = {}
        for status in collection.statuses:  # a scrape source has one status per target
            by_source.setdefault((status.kind, status.source), []).append(status)
        for (kind, source), statuses in by_source.items():
            rule = source_down_rule(kind, source)
            if self._done_slots.get(rule.name, -1) < slot_of(rule, now):
                rows = [row for status in statuses for row in source_down_values(status)]
                work.append((rule, rows, errors.get(rule.name)))
        evaluated = 0
        for batch in batches(work):
            evaluated += await self._evaluate_guarded(batch, now)
            for rule, _, _ in batch:
                self._done_slots[rule.name] = slot_of(rule, now)
        return evaluated

    async def sweep_removed_rules(self, now: datetime) -> None:
        """Resolve the alerts of rules the current set no longer evaluates (see removed_rules.py)."""
        generation = self._rulebook.generation
        current = self._rulebook.current
        evaluated = {rule.name for rule in current.enabled_rules()}
        sources = current.sources
        for kind, entries in (
            ("scrape", sources.scrape),
            ("prometheus", sources.prometheus),
            ("sql", sources.sql),
        ):
            evaluated.update(source_down_rule(kind, entry.name).name for entry in entries)
        async with self._incidents.transaction() as tx:
            await resolve_removed(tx, self._incidents, RULES_ACTOR, evaluated, self._rulebook.retired, now)
        for name in list(self._cache):
            if name not in evaluated:
                del self._cache[name]
        self._swept_generation = generation

    async def _evaluate_guarded(self, batch: list[Work], now: datetime) -> int:
        """A batch in one transaction; if it fails for a reason other than the database being away,
        each rule is retried alone so one broken rule cannot hold the others back."""
        started = time.perf_counter()
        try:
            done = await self.evaluate_batch(batch, now)
        except DatabaseUnavailable:
            raise  # the database is the problem, not the rules: let the supervisor back off
        except Exception as exc:
            reraise_if_cancelling(exc)
            if len(batch) == 1:
                rule = batch[0][0]
                EVALUATIONS.labels(outcome="error").inc()
                log.exception("rule_evaluation_failed", rule=rule.name, file=rule.file, line=rule.line)
                return 0
            log.warning("rule_batch_failed_retrying_one_by_one", rules=len(batch))
            return sum([await self._evaluate_guarded([item], now) for item in batch])
        EVALUATION_SECONDS.observe(time.perf_counter() - started)
        EVALUATIONS.labels(outcome="evaluated").inc(done)
        EVALUATIONS.labels(outcome="taken_elsewhere").inc(len(batch) - done)
        return done

    async def evaluate_batch(self, batch: Sequence[Work], now: datetime) -> int:
        """Rules for their current slot in one transaction: claim, load what is not cached, evaluate,
        store, open or clear incidents, record. Returns how many were claimed here."""
        started = time.perf_counter()
        slots = {rule.name: slot_of(rule, now) for rule, _, _ in batch}
        cache_updates: dict[str, CachedStates] = {}
        async with self._incidents.transaction() as tx:
            conn = tx.conn
            claims = await store.claim_slots(conn, list(slots.items()), now, self._writer)
            claimed = [item for item in batch if claims[item[0].name].claimed]
            trusted: dict[str, CachedStates] = {}
            for rule, _, _ in claimed:
                cached = self._cache.get(rule.name)
                claim = claims[rule.name]
                if cached is not None and cached.valid_after(
                    claim.previous_slot, claim.previous_writer, self._writer
                ):
                    trusted[rule.name] = cached
            loaded = await store.load_many(conn, [r.name for r, _, _ in claimed if r.name not in trusted])
            writes: list[store.RuleWrite] = []
            outcomes: list[store.Outcome] = []
            plans: list[tuple[GroupPlan, str | None]] = []
            held: list[tuple[str, list[str]]] = []
            snapshot: MuteSnapshot | None = None
            for rule, values, error in claimed:
                cached = trusted.get(rule.name)
                if cached is not None:
                    before, ids, written = cached.states, dict(cached.ids), dict(cached.written)
                else:
                    before, ids = loaded[rule.name]
                    written = {key: state.value for key, state in before.items()}
                evaluation = evaluate(rule, values, before, now, held=self._held.get(rule.name, ()))
                keys = evaluation.group_keys
                if values is not None:  # an unreadable source holds its states: nothing new to draw
                    self._samples.observe(rule, evaluation.states, keys, now)
                refresh = slots[rule.name] % refresh_every(rule) == 0
                writes.append(
                    store.RuleWrite(rule.name, before, evaluation.states, keys, ids, now, refresh, written)
                )
                outcomes.append(
                    store.Outcome(
                        rule.name,
                        (time.perf_counter() - started) * 1000,
                        len(evaluation.states),
                        len(evaluation.transitions),
                        values is None,
                        None if values is None else len(values),
                        worst_value(rule, values),
                    )
                )
                cache_updates[rule.name] = CachedStates(
                    rule=rule,
                    slot=slots[rule.name],
                    writer=self._writer,
                    states=evaluation.states,
                    ids=ids,
                    written=written,
                )
                for kind, count in Counter_(t.kind.value for t in evaluation.transitions).items():
                    TRANSITIONS.labels(kind=kind).inc(count)
                for key, observed in group_transitions(evaluation.transitions).items():
                    transitions = observed
                    if self._muter is not None and rule_mutes.starting(observed):
                        snapshot = snapshot or await self._muter.snapshot(conn, now)
                        transitions, muted = rule_mutes.hold_back(rule, observed, snapshot)
                        held.append((rule.name, muted))
                    if transitions:
                        plans.append((_plan(rule, key, transitions), error))
            await store.save_many(conn, writes)
            await self._samples.flush(conn)
            for name, series in held:
                await rule_mutes.mark_held(conn, name, series)
            await self._open_many(tx, [(plan, error) for plan, error in plans if plan.fire is not None])
            for plan, error in plans:
                await self._apply(tx, await _settled(conn, plan), error, opened=plan.fire is not None)
            await store.record_outcomes(conn, outcomes, now)
        self._cache.update(cache_updates)
        return len(claimed)

    async def _open_many(
        self, tx: IncidentTransaction, fires: Sequence[tuple[GroupPlan, str | None]]
    ) -> None:
        """The firing part of many plans at once: a storm opens its incidents in a few statements."""
        if not fires:
            return
        requests = []
        for plan, error in fires:
            assert plan.fire is not None
            requests.append(
                DeclareRequest(
                    title=plan.fire.title,
                    severity=plan.fire.severity,
                    dedup_key=plan.group_key,
                    labels=plan.fire.labels,
                    description=plan.fire.details.get("description", ""),
                    details={**plan.fire.details, **({"error": error} if error else {})},
                )
            )
        results = await self._incidents.declare_many_in(tx, requests, RULES_ACTOR)
        links = [(plan.group_key, r.incident.id) for (plan, _), r in zip(fires, results, strict=True)]
        await alert_states.link_incidents(tx.conn, links)
        written: dict[int, list[TimelineEvent]] = {}
        for change in tx.changes:
            written.setdefault(change.incident.id, []).extend(change.events)
        for result in results:
            if result.created:  # its whole timeline was written in this transaction
                await self._follow_worst(
                    tx, result.incident.id, (result.incident, written[result.incident.id])
                )
            else:
                await self._follow_worst(tx, result.incident.id)

    async def _apply(
        self, tx: IncidentTransaction, plan: GroupPlan, error: str | None, *, opened: bool = False
    ) -> None:
        extra = {"error": error} if error else {}
        if plan.fire is not None and not opened:
            result, _ = await self._incidents.declare_in(
                tx,
                title=plan.fire.title,
                severity=plan.fire.severity,
                actor=RULES_ACTOR,
                dedup_key=plan.group_key,
                labels=plan.fire.labels,
                description=plan.fire.details.get("description", ""),
                details={**plan.fire.details, **extra},
            )
            await alert_states.link_incident(tx.conn, plan.group_key, result.incident.id)
            await self._follow_worst(tx, result.incident.id)
        if not plan.notes and plan.clear is None:
            return
        incident = await self._incidents.lock_open_in(tx, plan.group_key)
        if incident is None:
            return  # a human resolved it already; the alert's history stays in alert_states
        for note in plan.notes:
            await self._incidents.record_in(tx, incident, note.kind, RULES_ACTOR, note.details)
        if plan.clear is not None:
            await self._incidents.record_in(tx, incident, "alert_cleared", RULES_ACTOR, plan.clear.details)
            if not plan.clear.all_clear:
                await self._follow_worst(tx, incident.id)
            if plan.clear.all_clear:
                action = clearing_action(incident.status, auto_resolve=plan.clear.auto_resolve)
                if action is not None:
                    await self._incidents.act_in(
                        tx, incident.id, action, RULES_ACTOR, details={"reason": "alert cleared"}
                    )

    async def _follow_worst(
        self,
        tx: IncidentTransaction,
        incident_id: int,
        known: tuple[Incident, list[TimelineEvent]] | None = None,
    ) -> None:
        """The title names the worst alert firing now: a worse rule, or what is left when the worst clears.
        `known`: the incident and its whole timeline, when this transaction wrote all of it."""
        timeline = known[1] if known else await self._incidents.timeline_in(tx, incident_id)
        found = readings(timeline)
        top = worst_firing(found)
        title = top.details.get("rule_title") if top is not None else None
        if top is None or not isinstance(title, str) or not title:
            return
        incident = known[0] if known else await self._incidents.find_in(tx, incident_id)
        named = [r for r in found.values() if incident and r.details.get("rule_title") == incident.title]
        if named and named[0].firing and named[0].rank() >= top.rank():
            return  # as bad as the worst: keep the title people already know
        await self._incidents.retitle_in(tx, incident_id, title, RULES_ACTOR)

    async def release_muted(self, *, full: bool) -> int:
        """Page held-back alerts whose mute ended; with `full`, also mark or unmark open incidents whose
        firing alerts are all muted (pausing or resuming their escalation)."""
        if self._muter is None:
            return 0
        now = self._clock()
        lookup = rule_mutes.lookup_in(lambda: list(self._rulebook.current.rules()))
        async with self._incidents.transaction() as tx:
            conn = tx.conn
            snapshot = await self._muter.snapshot(conn, now)
            released = await rule_mutes.claim_releasable(conn, lookup, snapshot, now)
            for rule, transition in released:
                plan = plan_group(rule, transition.group_key, [transition], still_firing=1)
                await self._apply(tx, plan, None)
            if full:
                verdicts = await rule_mutes.open_incident_verdicts(conn, lookup, snapshot)
                await reconcile(tx, self._incidents, verdicts)
        return len(released)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.tick()
            progress()
            await sleep_or_stop(stop, self._idle_seconds())

    def _idle_seconds(self) -> float:
        now = self._clock()
        waits = [
            (slot_of(rule, now) + 1) * max(rule.interval.total_seconds(), 1.0) - now.timestamp()
            for rule in self._rulebook.current.enabled_rules()
        ]
        return max(0.05, min([MAX_IDLE, *waits]))


def _plan(rule: Rule, key: str, transitions: Sequence[RuleTransition]) -> GroupPlan:
    """Plan with `still_firing` unknown yet; the batch fills it in from the stored states."""
    return plan_group(rule, key, transitions, still_firing=0)


async def _settled(conn: asyncpg.Connection, plan: GroupPlan) -> GroupPlan:
    """A clearing group is all clear only if no series of any rule sharing it fires, as stored now."""
    if plan.clear is None:
        return plan
    firing = await alert_states.firing_in_group(conn, plan.group_key)
    details = {**plan.clear.details, "still_firing": firing}
    clear = msgspec.structs.replace(plan.clear, all_clear=firing == 0, details=details)
    return msgspec.structs.replace(plan, clear=clear)

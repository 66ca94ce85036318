"""Silences, windows and inhibition for our own rules' alerts: held back at firing, paged when released.

The evaluator asks `hold_back` which newly firing series are muted: those are stored firing
but open no incident (`alert_states.muted`, incident_id NULL). `release` runs on its own beat:
a muted series still firing whose mute has ended is planned and applied as if it had just
fired, so the page goes out then, once (the row gets its incident in the same transaction).
`reconcile_open` marks or unmarks open incidents whose firing alerts are all muted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from service.alerting.source_health import source_down_rule
from service.domain.alerts import AlertState, AlertTransition, TransitionKind
from service.domain.evaluation import RuleTransition, describe
from service.domain.mute_verdicts import MuteSnapshot, Verdict
from service.domain.rules import Level, Rule
from service.silences.snapshot import rule_alert_labels

_STARTING = (TransitionKind.FIRING, TransitionKind.LEVEL_RAISED)
SOURCE_DOWN = "SourceDown_"

RuleLookup = Callable[[str], Rule | None]


def seen_labels(rule: Rule, transition_labels: dict[str, str], level: Level | None) -> dict[str, str]:
    return rule_alert_labels(rule.name, rule.signal.source, transition_labels, level.value if level else None)


def hold_back(
    rule: Rule, transitions: Sequence[RuleTransition], snapshot: MuteSnapshot
) -> tuple[list[RuleTransition], list[str]]:
    """(transitions to plan, series held back). Only a new firing is held back: an alert already in an
    incident keeps its place there (the incident's own mute mark covers it)."""
    kept: list[RuleTransition] = []
    held: list[str] = []
    for t in transitions:
        if t.kind is TransitionKind.FIRING and snapshot.verdict(seen_labels(rule, t.labels, t.level)).muted:
            held.append(t.series)
        else:
            kept.append(t)
    return kept, held


async def mark_held(conn: asyncpg.Connection, rule: str, series: Sequence[str]) -> None:
    if series:
        await conn.execute(
            "UPDATE alert_states SET muted = true WHERE rule = $1 AND md5(series) = ANY("
            "SELECT md5(s) FROM unnest($2::text[]) AS s)",
            rule,
            list(series),
        )


def lookup_in(rules: Callable[[], Sequence[Rule]]) -> RuleLookup:
    """Rules by name, including the synthetic SourceDown rules (rebuilt from their name and labels)."""

    def find(name: str) -> Rule | None:
        for rule in rules():
            if rule.name == name:
                return rule
        return None

    return find


def _rule_for(lookup: RuleLookup, name: str, labels: dict[str, str]) -> Rule | None:
    found = lookup(name)
    if found is None and name.startswith(SOURCE_DOWN) and labels.get("source"):
        source = labels["source"]
        kind = name[len(SOURCE_DOWN) : -(len(source) + 1)]
        found = source_down_rule(kind, source) if kind else None
    return found


async def claim_releasable(
    conn: asyncpg.Connection, lookup: RuleLookup, snapshot: MuteSnapshot, now: datetime
) -> list[tuple[Rule, RuleTransition]]:
    """Held-back series still firing and no longer muted, locked, with the transition to plan."""
    rows = await conn.fetch(
        "SELECT id, rule, series, labels, level, value FROM alert_states"
        " WHERE status = 'firing' AND incident_id IS NULL AND muted ORDER BY id LIMIT 500"
        " FOR UPDATE SKIP LOCKED"
    )
    released: list[tuple[Rule, RuleTransition]] = []
    for row in rows:
        rule = _rule_for(lookup, row["rule"], dict(row["labels"]))
        if rule is None:
            continue
        level = Level(row["level"])
        state = AlertState(labels=dict(row["labels"]))
        change = AlertTransition(kind=TransitionKind.FIRING, at=now, level=level, value=row["value"])
        transition = describe(rule, row["series"], state, change)
        if snapshot.verdict(seen_labels(rule, transition.labels, level)).muted:
            continue
        await conn.execute("UPDATE alert_states SET muted = false WHERE id = $1", row["id"])
        released.append((rule, transition))
    return released


async def open_incident_verdicts(
    conn: asyncpg.Connection, lookup: RuleLookup, snapshot: MuteSnapshot
) -> dict[int, list[Verdict]]:
    rows = await conn.fetch(
        "SELECT a.incident_id, a.rule, a.labels, a.level FROM alert_states a JOIN incidents i"
        " ON i.id = a.incident_id WHERE a.status = 'firing' AND i.status <> 'resolved'"
    )
    found: dict[int, list[Verdict]] = defaultdict(list)
    for row in rows:
        rule = _rule_for(lookup, row["rule"], dict(row["labels"]))
        if rule is None:
            continue
        level = Level(row["level"]) if row["level"] else None
        labels = seen_labels(rule, {**dict(row["labels"]), **rule.labels}, level)
        found[row["incident_id"]].append(snapshot.verdict(labels))
    return found


def starting(transitions: Sequence[RuleTransition]) -> bool:
    return any(t.kind in _STARTING for t in transitions)

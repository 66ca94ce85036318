"""Loads what mutes alerts right now from PostgreSQL (and the policy files), for every replica alike.

`Muter.snapshot` is reused for up to a second, since Prometheus posts many small batches,
but never past a change: each reuse first reads `mute_generation`, a counter every change
to silences and one-off windows bumps in its own transaction (migration 021), so a silence
made on one replica mutes alerts arriving on any other replica as soon as it is committed.
A reused snapshot also holds the silences that start within that second and knows when the
next window opens or closes (`valid_until`), so time moving on is exact too. What may lag by
up to that second is inhibition by an alert that started firing on another replica: that
can let a warning page beside its critical, never hide a page (docs/alertmanager.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg

from service.config.silence_policy import SilencePolicy
from service.dependencies import Key
from service.domain.inhibition import SourceAlert
from service.domain.maintenance_windows import OneOffWindow, next_window_change, open_windows
from service.domain.mute_verdicts import MuteSnapshot
from service.silences import store
from service.silences.source_prefilter import source_prefilter

CACHE_SECONDS = 1.0

# Firing alerts of both doors with the labels matching sees: our rules' alerts get `alertname`.
_FIRING = """
SELECT id, labels FROM (
    SELECT fingerprint AS id, labels FROM pushed_alerts WHERE status = 'firing'
    UNION ALL
    SELECT 'rule:' || id::text, labels || jsonb_build_object('alertname', rule) FROM alert_states
    WHERE status = 'firing'
) AS firing
"""


def one_off(rows: list[asyncpg.Record]) -> list[OneOffWindow]:
    return [
        OneOffWindow(
            id=str(r["id"]),
            name=r["name"],
            matchers=store.matchers_from_json(r["matchers"]),
            starts_at=r["starts_at"],
            ends_at=r["ends_at"],
            owner=r["owner"],
        )
        for r in rows
    ]


async def read_generation(conn: asyncpg.Connection) -> int:
    value: int = await conn.fetchval("SELECT coalesce((SELECT generation FROM mute_generation), 0)")
    return value


async def load_snapshot(conn: asyncpg.Connection, policy: SilencePolicy, now: datetime) -> MuteSnapshot:
    seen = await read_generation(conn)  # read first: a change made while loading shows as a newer one
    horizon = now + timedelta(seconds=CACHE_SECONDS * 2)
    silences = await store.active_until(conn, now, horizon)
    one_offs = one_off(await store.windows_between(conn, now, horizon))
    windows = open_windows(policy.windows, one_offs, now)
    sources: list[SourceAlert] = []
    if policy.inhibit_rules:
        where, params = source_prefilter(policy.inhibit_rules)
        for row in await conn.fetch(_FIRING + where, *params):
            labels: Mapping[str, str] = row["labels"]
            if any(rule.is_source(labels) for rule in policy.inhibit_rules):
                sources.append(SourceAlert(row["id"], dict(labels)))
    return MuteSnapshot(
        at=now,
        silences=tuple(silences),
        windows=tuple(windows),
        inhibit_rules=policy.inhibit_rules,
        sources=tuple(sources),
        valid_until=next_window_change(policy.windows, one_offs, windows, now),
        generation=seen,
    )


class Labelled(Protocol):
    """An alert as inhibition sees it (pushed alerts; the rules' own alerts are judged by labels)."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def labels(self) -> dict[str, str]: ...


class Muter:
    """The muting verdicts' one entry point for ingest, the evaluator and the sweeper."""

    def __init__(self, policy: SilencePolicy) -> None:
        self.policy = policy
        self._cached: tuple[float, MuteSnapshot] | None = None

    async def snapshot(
        self,
        conn: asyncpg.Connection,
        now: datetime,
        *,
        fresh: bool = False,
        generation: int | None = None,
    ) -> MuteSnapshot:
        """`generation`: mute_generation as the caller just read it in its own statement."""
        cached = self._cached
        if not fresh and cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            kept = cached[1]
            usable = kept.at <= now and (kept.valid_until is None or now < kept.valid_until)
            seen = generation if generation is not None else await read_generation(conn)
            if usable and seen == kept.generation:
                return kept.at_instant(now)
        snapshot = await load_snapshot(conn, self.policy, now)
        self._cached = (time.monotonic(), snapshot)
        return snapshot

    def reusable(self, now: datetime) -> MuteSnapshot | None:
        """The cached snapshot, if time alone has not outdated it. Its `generation` is unchecked: the
        caller's statement must compare it with mute_generation and change nothing when they differ."""
        cached = self._cached
        if cached is None or time.monotonic() - cached[0] >= CACHE_SECONDS:
            return None
        kept = cached[1]
        if kept.at > now or (kept.valid_until is not None and now >= kept.valid_until):
            return None
        return kept.at_instant(now)

    def new_sources(self, alerts: Sequence[Labelled]) -> list[SourceAlert]:
        """Alerts of a batch that can inhibit others, so the same batch sees them."""
        rules = self.policy.inhibit_rules
        return [
            SourceAlert(a.fingerprint, a.labels) for a in alerts if any(r.is_source(a.labels) for r in rules)
        ]

    def forget(self) -> None:
        """A silence or window changed here: the next verdict must see it."""
        self._cached = None


def rule_alert_labels(
    rule_name: str, source: str, labels: Mapping[str, str], level: str | None
) -> dict[str, Any]:
    """What silences and inhibit rules see of one of our own rules' alerts: its labels, `alertname`,
    the `source` it reads and its level as `severity` (unless the rule sets them itself)."""
    seen: dict[str, Any] = {"source": source, **labels, "alertname": rule_name}
    if level and "severity" not in labels:
        seen["severity"] = level
    return seen


MUTER: Key[Muter] = Key("muter")

"""SQL over pushed_alerts (migration 014): batched upserts, expiry claims, listings. Caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from service.alerting.pushed import Origin, PushedAlert, pushed_severity
from service.domain.mute_verdicts import Verdict

_COLUMNS = (
    "fingerprint, labels, annotations, generator_url, origin, group_key, severity, status, starts_at,"
    " ends_at, ends_explicit, received_at, updated_at, resolved_at, silenced_by, inhibited_by,"
    " muted_windows, incident_id"
)


class Row(msgspec.Struct, frozen=True, kw_only=True):
    alert: PushedAlert
    group_key: str
    severity: int
    verdict: Verdict


class Previous(msgspec.Struct, frozen=True):
    status: str
    incident_id: int | None
    muted: bool


_REFRESH = """
WITH previous AS (
    SELECT fingerprint, status, incident_id,
           (silenced_by <> '[]' OR inhibited_by <> '[]' OR muted_windows <> '[]') AS muted
    FROM pushed_alerts WHERE fingerprint = ANY($1::text[]) ORDER BY fingerprint FOR UPDATE
), given AS (
    SELECT * FROM json_to_recordset($2::text::json)
        AS t(fp text, an jsonb, gu text, ea timestamptz, ee boolean, sv smallint)
), refreshed AS (
    UPDATE pushed_alerts p SET annotations = t.an, generator_url = t.gu, ends_at = t.ea,
        lapse_at = LEAST(p.lapse_at, t.ea), ends_explicit = t.ee, severity = t.sv, received_at = $3
    FROM given AS t, previous
    WHERE p.fingerprint = t.fp AND previous.fingerprint = t.fp AND previous.status = 'firing'
    RETURNING p.fingerprint
)
SELECT previous.fingerprint, previous.status, previous.incident_id, previous.muted,
       refreshed.fingerprint IS NOT NULL AS refreshed, NULL::bigint AS generation
FROM previous LEFT JOIN refreshed USING (fingerprint)
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, coalesce((SELECT generation FROM mute_generation), 0)
"""


class Refreshed(msgspec.Struct, frozen=True):
    fingerprints: set[str]  # re-sent while firing: done
    previous: dict[str, Previous]  # the others' stored state (absent: new)
    mute_generation: int  # read in the same statement, saving the muter a round trip


async def refresh_and_lock(
    conn: asyncpg.Connection, alerts: Sequence[PushedAlert], now: datetime
) -> Refreshed:
    """One statement for the common case, a re-send of alerts that fire: lock every stored row of the
    batch (in fingerprint order, so replicas cannot deadlock), move `ends_at`/`received_at` (and the
    annotations) of those firing before and now, and return the others' stored state for the full road.
    Outside a transaction it commits by itself, which is all a lot of re-sends needs.
    """
    given = [
        {
            "fp": a.fingerprint,
            "an": a.annotations,
            "gu": a.generator_url,
            "ea": a.ends_at,
            "ee": a.ends_explicit,
            "sv": int(pushed_severity(a.labels)),
        }
        for a in alerts
        if a.firing(now)
    ]
    rows = await conn.fetch(_REFRESH, [a.fingerprint for a in alerts], _json(given), now)
    refreshed = {r["fingerprint"] for r in rows if r["refreshed"]}
    previous = {
        r["fingerprint"]: Previous(r["status"], r["incident_id"], r["muted"])
        for r in rows
        if r["fingerprint"] is not None and not r["refreshed"]
    }
    generation = next(r["generation"] for r in rows if r["fingerprint"] is None)
    return Refreshed(refreshed, previous, generation)


_UPSERT = f"""
INSERT INTO pushed_alerts ({_COLUMNS}, lapse_at)
SELECT fp, lb, an, gu, og, gk, sv, st, sa, ea, ee, $2, $2,
       CASE WHEN st = 'resolved' THEN ea END, sb, ib, mw, ii, ea
FROM json_to_recordset($1::text::json)
     AS t(fp text, lb jsonb, an jsonb, gu text, og text, gk text, sv smallint, st text, sa timestamptz,
          ea timestamptz, ee boolean, sb jsonb, ib jsonb, mw jsonb, ii bigint)
ON CONFLICT (fingerprint) DO UPDATE SET
    annotations = excluded.annotations, generator_url = excluded.generator_url,
    ends_at = excluded.ends_at, ends_explicit = excluded.ends_explicit, received_at = excluded.received_at,
    severity = excluded.severity,
    lapse_at = CASE WHEN pushed_alerts.status = excluded.status
                    THEN LEAST(pushed_alerts.lapse_at, excluded.ends_at) ELSE excluded.ends_at END,
    starts_at = CASE WHEN pushed_alerts.status = excluded.status THEN pushed_alerts.starts_at
                     ELSE excluded.starts_at END,
    updated_at = CASE WHEN pushed_alerts.status = excluded.status THEN pushed_alerts.updated_at
                      ELSE excluded.updated_at END,
    status = excluded.status,
    resolved_at = CASE WHEN excluded.status = 'resolved' THEN coalesce(pushed_alerts.resolved_at,
                      excluded.resolved_at) END,
    silenced_by = CASE WHEN $3::text[] @> ARRAY[excluded.fingerprint] THEN excluded.silenced_by
                       ELSE pushed_alerts.silenced_by END,
    inhibited_by = CASE WHEN $3::text[] @> ARRAY[excluded.fingerprint] THEN excluded.inhibited_by
                        ELSE pushed_alerts.inhibited_by END,
    muted_windows = CASE WHEN $3::text[] @> ARRAY[excluded.fingerprint] THEN excluded.muted_windows
                         ELSE pushed_alerts.muted_windows END,
    incident_id = CASE WHEN excluded.incident_id IS NOT NULL THEN excluded.incident_id
                       WHEN excluded.status = 'firing' AND pushed_alerts.status = 'resolved' THEN NULL
                       ELSE pushed_alerts.incident_id END
"""


async def upsert(
    conn: asyncpg.Connection,
    rows: Sequence[Row],
    now: datetime,
    judged: Sequence[str],
    links: Mapping[str, int] | None = None,
) -> None:
    """Store what `refresh_and_lock` did not (new, resolved, firing again) in one statement; `judged`
    lists the alerts whose mute verdict is new and must be written; `links` the incident each newly
    firing alert opened or joined."""
    if not rows:
        return
    links = links or {}
    given = [
        {
            "fp": r.alert.fingerprint,
            "lb": r.alert.labels,
            "an": r.alert.annotations,
            "gu": r.alert.generator_url,
            "og": r.alert.origin,
            "gk": r.group_key,
            "sv": r.severity,
            "st": "firing" if r.alert.firing(now) else "resolved",
            "sa": r.alert.starts_at,
            "ea": r.alert.ends_at,
            "ee": r.alert.ends_explicit,
            "sb": r.verdict.silenced_by,
            "ib": r.verdict.inhibited_by,
            "mw": r.verdict.windows,
            "ii": links.get(r.alert.fingerprint),
        }
        for r in rows
    ]
    await conn.execute(_UPSERT, _json(given), now, list(judged))


_JOIN = f"""
WITH open AS (
    SELECT id, dedup_key, severity, status FROM incidents
    WHERE dedup_key = ANY($2::text[]) AND status <> 'resolved' ORDER BY dedup_key FOR SHARE
), joined AS (
    INSERT INTO pushed_alerts ({_COLUMNS}, lapse_at)
    SELECT t.fp, t.lb, t.an, t.gu, t.og, t.gk, t.sv, 'firing', t.sa, t.ea, t.ee, $3, $3, NULL,
           t.sb, t.ib, t.mw, CASE WHEN t.mu THEN NULL ELSE o.id END, t.ea
    FROM json_to_recordset($1::text::json)
         AS t(fp text, lb jsonb, an jsonb, gu text, og text, gk text, sv smallint, sa timestamptz,
              ea timestamptz, ee boolean, sb jsonb, ib jsonb, mw jsonb, mu boolean)
    LEFT JOIN open o ON o.dedup_key = t.gk
    WHERE coalesce((SELECT generation FROM mute_generation), 0) = $4
        AND (t.mu OR (o.status <> 'mitigated' AND t.sv >= o.severity))
    ON CONFLICT (fingerprint) DO NOTHING
    RETURNING fingerprint
)
SELECT fingerprint FROM joined
"""


async def insert_joining(
    conn: asyncpg.Connection, rows: Sequence[Row], now: datetime, mute_generation: int
) -> set[str]:
    """One statement, committed by itself, for the bulk of an alert storm: alerts never stored, whose
    group already has an open incident they neither make worse nor bring back (or which are muted, and
    wait for the sweeper with no incident), are stored with that incident; `rows` carry verdicts made
    from a snapshot of `mute_generation`, and nothing is written if that is no longer the current one.
    Returns the fingerprints stored; the others take the full road."""
    given = [
        {
            "fp": r.alert.fingerprint,
            "lb": r.alert.labels,
            "an": r.alert.annotations,
            "gu": r.alert.generator_url,
            "og": r.alert.origin,
            "gk": r.group_key,
            "sv": r.severity,
            "sa": r.alert.starts_at,
            "ea": r.alert.ends_at,
            "ee": r.alert.ends_explicit,
            "sb": r.verdict.silenced_by,
            "ib": r.verdict.inhibited_by,
            "mw": r.verdict.windows,
            "mu": r.verdict.muted,
        }
        for r in rows
    ]
    keys = sorted({r.group_key for r in rows})
    found = await conn.fetch(_JOIN, _json(given), keys, now, mute_generation)
    return {r["fingerprint"] for r in found}


async def link_many(conn: asyncpg.Connection, links: Sequence[tuple[str, int]]) -> None:
    if links:
        await conn.execute(
            "UPDATE pushed_alerts p SET incident_id = t.i FROM unnest($1::text[], $2::bigint[]) AS t(f, i)"
            " WHERE p.fingerprint = t.f",
            [f for f, _ in links],
            [i for _, i in links],
        )


async def firing_in_group(conn: asyncpg.Connection, group_key: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM pushed_alerts WHERE group_key = $1 AND status = 'firing'", group_key
    )
    return count


async def claim_lapsed(conn: asyncpg.Connection, now: datetime, limit: int = 500) -> list[asyncpg.Record]:
    """Firing alerts whose endsAt passed without a re-send: resolved here, claimed once across replicas.

    The worker finds them by `lapse_at` (migration 021), which a re-send that extends `ends_at` leaves
    alone so that PostgreSQL can update the row in place; those found re-sent are moved on first, with a
    larger limit, so that they never crowd out the alerts that did lapse."""
    await conn.execute(
        """
        UPDATE pushed_alerts SET lapse_at = ends_at
        WHERE fingerprint IN (
            SELECT fingerprint FROM pushed_alerts WHERE status = 'firing' AND lapse_at <= $1 AND ends_at > $1
            ORDER BY lapse_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        """,
        now,
        limit * 20,
    )
    return list(
        await conn.fetch(
            f"""
            UPDATE pushed_alerts SET status = 'resolved', resolved_at = ends_at, updated_at = $1
            WHERE fingerprint IN (
                SELECT fingerprint FROM pushed_alerts WHERE status = 'firing' AND lapse_at <= $1
                    AND ends_at <= $1
                ORDER BY lapse_at LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING {_COLUMNS}
            """,
            now,
            limit,
        )
    )


async def for_incident(conn: asyncpg.Connection, incident_id: int, limit: int = 50) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT fingerprint, labels, status, generator_url, origin, starts_at, ends_at, silenced_by,"
        " inhibited_by, muted_windows FROM pushed_alerts WHERE incident_id = $1"
        " ORDER BY status, fingerprint LIMIT $2",
        incident_id,
        limit,
    )
    return [dict(r) for r in rows]


async def claim_unattached(conn: asyncpg.Connection, limit: int = 500) -> list[asyncpg.Record]:
    """Firing alerts with no incident (they were muted when they arrived), locked for the sweeper."""
    return list(
        await conn.fetch(
            f"SELECT {_COLUMNS} FROM pushed_alerts WHERE status = 'firing' AND incident_id IS NULL"
            " ORDER BY fingerprint LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
    )


async def set_verdicts(conn: asyncpg.Connection, verdicts: Sequence[tuple[str, Verdict]]) -> None:
    if not verdicts:
        return
    await conn.execute(
        """
        UPDATE pushed_alerts p SET silenced_by = t.sb::jsonb, inhibited_by = t.ib::jsonb,
            muted_windows = t.mw::jsonb
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(fp, sb, ib, mw)
        WHERE p.fingerprint = t.fp
        """,
        [fp for fp, _ in verdicts],
        [_json(v.silenced_by) for _, v in verdicts],
        [_json(v.inhibited_by) for _, v in verdicts],
        [_json(v.windows) for _, v in verdicts],
    )


def _json(value: object) -> str:
    """JSON parameters go as text. A lot's rows go as one document (json_to_recordset in the statement):
    msgspec writes it in one C call, where asyncpg would check and encode each element of a dozen arrays
    one by one; and asyncpg would read a dict inside a list as another array dimension."""
    return msgspec.json.encode(value).decode()


def alert_from_row(row: Any) -> PushedAlert:
    return PushedAlert(
        fingerprint=row["fingerprint"],
        labels=dict(row["labels"]),
        annotations=dict(row["annotations"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        ends_explicit=row["ends_explicit"],
        generator_url=row["generator_url"],
        origin=Origin(row["origin"]),
    )


async def analyze(conn: asyncpg.Connection) -> int:
    """Fresh planner statistics; the rows the table holds now."""
    await conn.execute("ANALYZE pushed_alerts")
    rows: float = await conn.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'pushed_alerts'::regclass")
    return max(int(rows), 0)

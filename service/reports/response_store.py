"""Response metrics in SQL over the per-incident tables the timeline's triggers keep (migration 026).

The scope is the incidents opened in [since, until), optionally of one service and some severities;
every figure is about those incidents. Time to acknowledge is from opening to the first
`acknowledged` event, time to resolve to the first `resolved` one (a reopened incident keeps its first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from service.adapters.postgres.database import Database
from service.domain.report_schedule import BusinessHours
from service.domain.severity import Severity

LIST_LIMIT = 50

# Every table of the report carries its incident's scope (migration 026), so none joins back.
_IN_SCOPE = """
    created_at >= $1 AND created_at < $2
    AND ($3::text IS NULL OR service = $3)
    AND ($4::smallint[] IS NULL OR severity = ANY($4::smallint[]))
"""
_DURATIONS = f"""
    SELECT GROUPING(severity) AS g_severity, GROUPING(service) AS g_service, GROUPING(week) AS g_week,
           severity, service, week, count(*) AS incidents,
           count(tta_seconds) AS acknowledged,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY tta_seconds) AS tta,
           count(ttr_seconds) AS resolved,
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY ttr_seconds) AS ttr
    FROM incident_response_facts WHERE {_IN_SCOPE}
    GROUP BY GROUPING SETS ((), (severity), (service), (week))
"""  # noqa: S608 - constants only; values go as $n
_OUT_OF_HOURS = """
    NOT (extract(isodow FROM at AT TIME ZONE $5) = ANY($6::int[])
         AND (at AT TIME ZONE $5)::time >= $7 AND (at AT TIME ZONE $5)::time < $8)
"""
_PAGES = f"""
    SELECT target, count(*) AS pages, count(*) FILTER (WHERE {_OUT_OF_HOURS}) AS out_of_hours
    FROM incident_response_contacts WHERE via = 'page' AND {_IN_SCOPE}
    GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {LIST_LIMIT}
"""  # noqa: S608 - as above
_TOLD = f"""
    SELECT kind, target, count(*) AS times, count(*) FILTER (WHERE {_OUT_OF_HOURS}) AS out_of_hours
    FROM incident_response_contacts WHERE via = 'escalation' AND {_IN_SCOPE}
    GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT {LIST_LIMIT}
"""  # noqa: S608 - as above
_RULES = f"""
    SELECT key AS rule, sum(alerts) AS alerts, count(*) AS incidents, sum(flaps) AS flaps
    FROM incident_response_tallies WHERE kind = 'rule' AND {_IN_SCOPE}
    GROUP BY 1 ORDER BY 2 DESC, 1
"""  # noqa: S608 - as above
_LEVELS = f"""
    SELECT key AS level, sum(escalations) AS escalations
    FROM incident_response_tallies WHERE kind = 'level' AND {_IN_SCOPE}
    GROUP BY 1 ORDER BY 1
"""  # noqa: S608 - as above


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _nth(percentiles: list[float] | None, n: int) -> float | None:
    """One of percentile_cont's answers; the whole array is NULL when the group had no durations."""
    return None if percentiles is None else percentiles[n]


def _durations(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "incidents": int(row["incidents"]),
        "acknowledged": int(row["acknowledged"]),
        "mtta_median_seconds": _seconds(_nth(row["tta"], 0)),
        "mtta_p90_seconds": _seconds(_nth(row["tta"], 1)),
        "resolved": int(row["resolved"]),
        "mttr_median_seconds": _seconds(_nth(row["ttr"], 0)),
        "mttr_p90_seconds": _seconds(_nth(row["ttr"], 1)),
    }


async def response_report(
    db: Database,
    *,
    since: datetime,
    until: datetime,
    service: str | None,
    severities: Sequence[Severity] | None,
    hours: BusinessHours,
) -> dict[str, Any]:
    """Every figure at once: the five scans run side by side on connections of their own."""
    scope = (since, until, service, [int(s) for s in severities] if severities else None)
    in_hours = (hours.zone, list(hours.days), hours.start, hours.end)
    durations, pages, told, rules, levels = await asyncio.gather(
        _read(db, _DURATIONS, *scope),
        _read(db, _PAGES, *scope, *in_hours),
        _read(db, _TOLD, *scope, *in_hours),
        _read(db, _RULES, *scope),
        _read(db, _LEVELS, *scope),
    )
    overall: dict[str, Any] = {}
    by_severity, by_service, by_week = [], [], []
    for row in durations:
        figures = _durations(row)
        if row["g_severity"] == 0:
            by_severity.append({"severity": Severity(row["severity"]).label, **figures})
        elif row["g_service"] == 0:
            by_service.append({"service": row["service"], **figures})
        elif row["g_week"] == 0:
            by_week.append({"week": row["week"].isoformat(), **figures})
        else:
            overall = figures
    by_rule = [
        {
            "rule": r["rule"],
            "alerts": int(r["alerts"]),
            "incidents": int(r["incidents"]),
            "flaps": int(r["flaps"]),
        }
        for r in rules
    ]
    alerts = sum(r["alerts"] for r in by_rule)
    incidents_from_rules = sum(r["incidents"] for r in by_rule)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "overall": overall or _durations_empty(),
        "by_severity": sorted(by_severity, key=lambda r: str(r["severity"])),
        "by_service": sorted(by_service, key=lambda r: str(r["service"])),
        "by_week": sorted(by_week, key=lambda r: str(r["week"])),
        "pages": [
            {"target": r["target"] or "", "pages": int(r["pages"]), "out_of_hours": int(r["out_of_hours"])}
            for r in pages
        ],
        "notified": [
            {
                "kind": r["kind"],
                "target": r["target"],
                "times": int(r["times"]),
                "out_of_hours": int(r["out_of_hours"]),
            }
            for r in told
        ],
        "alerts": {
            "alerts": alerts,
            "incidents": incidents_from_rules,
            "alerts_per_incident": round(alerts / incidents_from_rules, 3) if incidents_from_rules else None,
            "by_rule": by_rule[:LIST_LIMIT],
        },
        "flapping_rules": sorted(
            (r for r in by_rule if r["flaps"] > 0), key=lambda r: (-int(r["flaps"]), str(r["rule"]))
        )[:LIST_LIMIT],
        "escalations_by_level": [
            {
                "level": int(r["level"]) if (r["level"] or "").isdigit() else None,
                "escalations": int(r["escalations"]),
            }
            for r in levels
        ],
        "business_hours": {
            "time_zone": hours.zone,
            "start": hours.start.strftime("%H:%M"),
            "end": hours.end.strftime("%H:%M"),
            "days": list(hours.days),
        },
    }


async def _read(db: Database, statement: str, *args: object) -> list[asyncpg.Record]:
    async with db.connection() as conn, conn.transaction(readonly=True):
        # Reporting scans planned in under a millisecond: compiling them (JIT) costs far more than it
        # saves, and a year's percentile sorts fit in this much memory.
        await conn.execute("SET LOCAL jit = off; SET LOCAL work_mem = '32MB'")
        rows: list[asyncpg.Record] = await conn.fetch(statement, *args)
        return rows


def _durations_empty() -> dict[str, Any]:
    return {
        "incidents": 0,
        "acknowledged": 0,
        "mtta_median_seconds": None,
        "mtta_p90_seconds": None,
        "resolved": 0,
        "mttr_median_seconds": None,
        "mttr_p90_seconds": None,
    }

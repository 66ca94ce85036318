"""The incidents list (the web console's first page): filters read from the URL, and a keyset page.

It lives in the incidents room because it is SQL over incidents (with each one's next pending
escalation step beside it), read through the store's row mapping.

Open incidents come first, newest first within each group. Paging is by cursor
(`after=<group>.<id>`), never OFFSET, so page 500 of 10,000 incidents costs what
page 1 costs, and an incident opening meanwhile does not shift what you see.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode

import asyncpg
import msgspec

from service.domain.incidents import Incident, Status
from service.domain.severity import Severity
from service.incidents.store import incident_from_row

PAGE_SIZE = 50
STATUS_CHOICES = ("open", "triggered", "acknowledged", "mitigated", "resolved", "all")


class Filters(msgspec.Struct, frozen=True, kw_only=True):
    status: str = "all"
    severity: str = ""
    service: str = ""
    q: str = ""
    problems: tuple[str, ...] = ()

    def query(self, **overrides: str) -> str:
        """This filter as a query string, for links that keep it (paging, sharing)."""
        values = {"status": self.status, "severity": self.severity, "service": self.service, "q": self.q}
        values.update(overrides)
        return urlencode({k: v for k, v in values.items() if v and not (k == "status" and v == "all")})


def parse_filters(params: Mapping[str, str]) -> Filters:
    """Unknown values are reported on the page and ignored, never a 500."""
    problems: list[str] = []
    status = params.get("status", "all").strip().lower() or "all"
    if status not in STATUS_CHOICES:
        problems.append(f"status: unknown value {status!r}; showing all")
        status = "all"
    severity = params.get("severity", "").strip().upper()
    if severity:
        try:
            Severity.parse(severity)
        except ValueError:
            problems.append(f"severity: unknown value {severity!r}; use P0, P1, P2 or P3")
            severity = ""
    return Filters(
        status=status,
        severity=severity,
        service=params.get("service", "").strip()[:200],
        q=params.get("q", "").strip()[:200],
        problems=tuple(problems),
    )


class Row(msgspec.Struct, frozen=True):
    incident: Incident
    next_step_at: datetime | None
    next_step_level: int | None


class Page(msgspec.Struct, frozen=True):
    rows: list[Row]
    next_cursor: str | None
    total: int


def _statuses(status: str) -> list[str] | None:
    if status == "all":
        return None
    if status == "open":
        return [s.value for s in Status if s.is_open]
    return [status]


def parse_cursor(raw: str | None) -> tuple[int, int] | None:
    if not raw:
        return None
    group, _, ident = raw.partition(".")
    if group in ("0", "1") and ident.isdigit() and len(ident) < 19:
        return int(group), int(ident)
    return None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


SEARCH_TEXT = "(i.title || ' ' || i.dedup_key || ' ' || coalesce(i.assignee, '') || ' INC-' || i.id::text)"

# Only the filters in use become SQL (each combination its own prepared statement), so the planner
# sees the real conditions and uses the status, service, severity and trigram search indexes; values
# always go as $n parameters (S608 below: the SQL text is built from these constants only).
# $1 = group, $2 = after id, $3 = limit; filter values follow.
_FILTERS = (
    ("status", "i.status = ANY(${n}::text[])"),
    ("severity", "i.severity = ${n}::smallint"),
    ("service", "i.labels ->> 'service' = ${n}::text"),
    ("q", SEARCH_TEXT + " ILIKE ${n}::text"),
)

# The page and the count in one round trip: `total` always yields one row, the page zero or more.
_PAGE_SQL = """
WITH page AS (
SELECT i.*, step.due_at AS next_step_at, step.level AS next_step_level
FROM (
    (SELECT i.* FROM incidents i
     WHERE (i.status = 'resolved') = false AND $1::int <= 0 AND ($1::int < 0 OR i.id < $2) {where}
     ORDER BY i.id DESC LIMIT $3)
    UNION ALL
    (SELECT i.* FROM incidents i
     WHERE (i.status = 'resolved') = true AND ($1::int < 1 OR i.id < $2) {where}
     ORDER BY i.id DESC LIMIT $3)
) i
LEFT JOIN LATERAL (
    SELECT due_at, level FROM escalation_steps s
    WHERE s.incident_id = i.id AND s.state = 'pending' AND s.kind IN ('escalate', 'exhausted')
    ORDER BY due_at LIMIT 1
) step ON true
ORDER BY (i.status = 'resolved'), i.id DESC
LIMIT $3
), total AS (SELECT count(*) AS matching FROM incidents i WHERE true {where})
SELECT page.*, total.matching FROM total LEFT JOIN page ON true
ORDER BY (page.status = 'resolved'), page.id DESC
"""


def _conditions(filters: Filters, first: int) -> tuple[list[str], list[object]]:
    """The filters in use as SQL conditions, their parameters numbered from `first`."""
    values = {
        "status": _statuses(filters.status),
        "severity": int(Severity.parse(filters.severity)) if filters.severity else None,
        "service": filters.service or None,
        "q": f"%{_escape_like(filters.q)}%" if filters.q else None,
    }
    clauses: list[str] = []
    args: list[object] = []
    for name, template in _FILTERS:
        if values[name] is not None:
            args.append(values[name])
            clauses.append(template.replace("{n}", str(first + len(args) - 1)))
    return clauses, args


async def search(
    conn: asyncpg.Connection, filters: Filters, cursor: tuple[int, int] | None, limit: int = PAGE_SIZE
) -> Page:
    """One page after `cursor` (group 0 = open, 1 = resolved; then id): each group is a range of the
    open-first index, so a deep page costs what the first one costs."""
    clauses, args = _conditions(filters, first=4)
    where = "".join(f" AND {c}" for c in clauses)
    group, after_id = cursor if cursor else (-1, 0)
    found = await conn.fetch(_PAGE_SQL.format(where=where), group, after_id, limit + 1, *args)
    total: int = found[0]["matching"]
    rows = [r for r in found if r["id"] is not None]
    more = len(rows) > limit
    rows = rows[:limit]
    page_rows = [Row(incident_from_row(r), r["next_step_at"], r["next_step_level"]) for r in rows]
    next_cursor = None
    if more and page_rows:
        last = page_rows[-1].incident
        next_cursor = f"{int(last.status is Status.RESOLVED)}.{last.id}"
    return Page(rows=page_rows, next_cursor=next_cursor, total=total)


async def services(conn: asyncpg.Connection) -> list[str]:
    """Service names for the filter's suggestions: a skip scan over the service index, one probe per name."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE found AS (
            (SELECT labels ->> 'service' AS v FROM incidents WHERE labels ->> 'service' IS NOT NULL
             ORDER BY 1 LIMIT 1)
            UNION ALL
            SELECT (SELECT labels ->> 'service' FROM incidents WHERE labels ->> 'service' > found.v
                    ORDER BY 1 LIMIT 1)
            FROM found WHERE found.v IS NOT NULL
        )
        SELECT v FROM found WHERE v IS NOT NULL LIMIT 200
        """
    )
    return [r["v"] for r in rows if r["v"]]

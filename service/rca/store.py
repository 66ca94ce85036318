"""SQL over rca_documents and rca_versions (migration 005); each function runs on the caller's connection."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from service.domain.incidents import Actor, format_human_id


class RcaDocument(msgspec.Struct, frozen=True, kw_only=True):
    incident_id: int
    human_id: str
    version: int
    markdown: str
    author: str
    author_source: str
    reason: str
    template: str
    created_at: datetime
    updated_at: datetime
    has_chart: bool


class RcaVersionInfo(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    author: str
    author_source: str
    reason: str
    created_at: datetime
    characters: int


_DOCUMENT_SQL = """
SELECT d.incident_id, d.current_version AS version, d.template, d.created_at, v.markdown, v.author,
       v.author_source, v.reason, v.created_at AS updated_at, v.chart_svg IS NOT NULL AS has_chart
FROM rca_documents d JOIN rca_versions v ON v.incident_id = d.incident_id AND v.version = d.current_version
WHERE d.incident_id = $1
"""


def _document(row: asyncpg.Record) -> RcaDocument:
    return RcaDocument(
        incident_id=row["incident_id"],
        human_id=format_human_id(row["incident_id"]),
        version=row["version"],
        markdown=row["markdown"],
        author=row["author"],
        author_source=row["author_source"],
        reason=row["reason"],
        template=row["template"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        has_chart=row["has_chart"],
    )


async def document(conn: asyncpg.Connection, incident_id: int) -> RcaDocument | None:
    row = await conn.fetchrow(_DOCUMENT_SQL, incident_id)
    return _document(row) if row is not None else None


async def insert_document(conn: asyncpg.Connection, incident_id: int, template: str, at: datetime) -> bool:
    """False when the incident has a document already (another writer got there first)."""
    inserted = await conn.fetchval(
        "INSERT INTO rca_documents (incident_id, current_version, template, created_at)"
        " VALUES ($1, 1, $2, $3) ON CONFLICT (incident_id) DO NOTHING RETURNING incident_id",
        incident_id, template, at,
    )  # fmt: skip
    return inserted is not None


async def insert_version(
    conn: asyncpg.Connection,
    incident_id: int,
    *,
    version: int,
    markdown: str,
    actor: Actor,
    reason: str,
    chart_svg: str | None,
    at: datetime,
) -> None:
    """A new version, and the document now points at it."""
    await conn.execute(
        "INSERT INTO rca_versions (incident_id, version, markdown, author, author_source, reason,"
        " created_at, chart_svg) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        incident_id, version, markdown, actor.name, actor.source, reason, at, chart_svg,
    )  # fmt: skip
    await conn.execute(
        "UPDATE rca_documents SET current_version = $2 WHERE incident_id = $1", incident_id, version
    )


async def lock_current(conn: asyncpg.Connection, incident_id: int) -> asyncpg.Record | None:
    """Lock the document row, then read its current version (None: no document).

    Two statements on purpose: with a join under FOR UPDATE, a waiter re-checks the updated
    document row against the version row of its old snapshot, finds no match and sees no row.
    """
    version = await conn.fetchval(
        "SELECT current_version FROM rca_documents WHERE incident_id = $1 FOR UPDATE", incident_id
    )
    if version is None:
        return None
    row: asyncpg.Record = await conn.fetchrow(
        "SELECT version AS current_version, markdown, chart_svg FROM rca_versions"
        " WHERE incident_id = $1 AND version = $2",
        incident_id,
        version,
    )
    return row


async def template_of(conn: asyncpg.Connection, incident_id: int) -> str | None:
    template: str | None = await conn.fetchval(
        "SELECT template FROM rca_documents WHERE incident_id = $1", incident_id
    )
    return template


async def versions(conn: asyncpg.Connection, incident_id: int) -> list[RcaVersionInfo]:
    rows = await conn.fetch(
        "SELECT version, author, author_source, reason, created_at, length(markdown) AS characters"
        " FROM rca_versions WHERE incident_id = $1 ORDER BY version",
        incident_id,
    )
    return [RcaVersionInfo(**dict(row)) for row in rows]


async def version_text(
    conn: asyncpg.Connection, incident_id: int, version: int
) -> tuple[str, RcaVersionInfo] | None:
    row = await conn.fetchrow(
        "SELECT version, author, author_source, reason, created_at, markdown,"
        " length(markdown) AS characters FROM rca_versions WHERE incident_id = $1 AND version = $2",
        incident_id,
        version,
    )
    if row is None:
        return None
    info = {key: row[key] for key in RcaVersionInfo.__struct_fields__}
    return row["markdown"], RcaVersionInfo(**info)


async def current_chart(conn: asyncpg.Connection, incident_id: int) -> str | None:
    svg: str | None = await conn.fetchval(
        "SELECT v.chart_svg FROM rca_documents d JOIN rca_versions v"
        " ON v.incident_id = d.incident_id AND v.version = d.current_version WHERE d.incident_id = $1",
        incident_id,
    )
    return svg


async def slack_messages(conn: asyncpg.Connection, incident_id: int) -> list[asyncpg.Record]:
    """Where the incident was posted in Slack, first message first, with the workspace it is in."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT channel, channel_id, ts, (SELECT label FROM slack_directory WHERE kind = 'workspace')"
        " AS workspace FROM slack_messages WHERE incident_id = $1 ORDER BY created_at",
        incident_id,
    )
    return rows


async def value_samples(
    conn: asyncpg.Connection, group_key: str, since: datetime, until: datetime, limit: int = 20_000
) -> dict[str, list[tuple[datetime, float]]]:
    """The stored value history of an alert group between two times, per rule, oldest first."""
    rows = await conn.fetch(
        "SELECT rule, at, value FROM alert_value_samples WHERE group_key = $1 AND at BETWEEN $2 AND $3"
        " ORDER BY rule, at LIMIT $4",
        group_key,
        since,
        until,
        limit,
    )
    found: dict[str, list[tuple[datetime, float]]] = {}
    for row in rows:
        found.setdefault(row["rule"], []).append((row["at"], row["value"]))
    return found

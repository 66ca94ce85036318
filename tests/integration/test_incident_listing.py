"""The incidents list's SQL against real PostgreSQL: each filter alone and combined, and free text
through the trigram index, with LIKE's wildcards taken literally."""

from __future__ import annotations

from datetime import UTC, datetime

from service.adapters.postgres.database import Database
from service.incidents import listing


async def seed(db: Database) -> None:
    now = datetime.now(UTC)
    rows = [
        ("k1", "disk full on db-1", 1, "triggered", "checkout", None),
        ("k2", "disk full on db-17", 2, "acknowledged", "checkout", "grace"),
        ("k3", "latency 100% over", 2, "resolved", "search", None),
        ("k4", "payments 5xx", 0, "mitigated", "payments", "alan"),
    ]
    async with db.connection() as conn:
        for key, title, severity, status, service, assignee in rows:
            await conn.execute(
                "INSERT INTO incidents (dedup_key, title, severity, status, labels, assignee, created_by,"
                " source, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, jsonb_build_object('service', $5::text), $6, 'api', 'api', $7, $7)",
                key, title, severity, status, service, assignee, now,
            )  # fmt: skip


async def titles(db: Database, **params: str) -> list[str]:
    async with db.connection() as conn:
        found = await listing.search(conn, listing.parse_filters(params), None)
    assert found.total == len(found.rows)
    return [row.incident.title for row in found.rows]


async def test_each_filter_alone_and_together(db: Database) -> None:
    await seed(db)
    assert len(await titles(db)) == 4
    assert await titles(db, status="open") == ["payments 5xx", "disk full on db-17", "disk full on db-1"]
    assert await titles(db, severity="P2") == ["disk full on db-17", "latency 100% over"]
    assert await titles(db, service="checkout", severity="P2", status="acknowledged") == [
        "disk full on db-17"
    ]
    assert await titles(db, q="DB-1") == ["disk full on db-17", "disk full on db-1"]
    assert await titles(db, q="grace") == ["disk full on db-17"]  # the assignee
    assert await titles(db, q="k4") == ["payments 5xx"]  # the dedup key
    async with db.connection() as conn:
        first = await conn.fetchval("SELECT min(id) FROM incidents")
    assert await titles(db, q=f"INC-{first}") == ["disk full on db-1"]
    assert await titles(db, q="100%") == ["latency 100% over"]
    assert await titles(db, q="10_%") == []  # wildcards are literal
    assert await titles(db, q="disk", status="resolved") == []


async def test_free_text_can_use_the_trigram_index(db: Database) -> None:
    async with db.connection() as conn:
        await conn.execute("SET enable_seqscan = off")
        clauses, args = listing._conditions(listing.parse_filters({"q": "payments"}), first=1)
        sql = "EXPLAIN SELECT count(*) FROM incidents i WHERE " + clauses[0]  # noqa: S608 - constants
        plan = "\n".join(r[0] for r in await conn.fetch(sql, *args))
        await conn.execute("RESET enable_seqscan")
    assert "incidents_search_trgm" in plan

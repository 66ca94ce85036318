"""PostgreSQL going away and coming back, through a proxy the test can cut."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from service.adapters.postgres.database import Database
from service.app import build_app, wait_until_ready
from service.settings import load_settings
from service.testing.tcp_proxy import ThreadedTcpProxy

ROOT = Path(__file__).resolve().parents[2]
WRITER = {"Authorization": "Bearer writer-token-1"}


async def test_api_degrades_to_503_and_recovers(db: Database, database_url: str) -> None:
    parts = urlsplit(database_url)
    if not parts.hostname or parts.hostname.startswith("/") or parts.port is None:
        # The embedded server listens on a Unix socket; the proxy needs TCP.
        pytest.skip("needs a TCP PostgreSQL (TEST_DATABASE_URL)")
    proxy = ThreadedTcpProxy(parts.hostname, parts.port)
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    proxied = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    settings = msgspec.structs.replace(
        load_settings({"INCIDENTD_API_TOKENS": "alice=writer-token-1", "INCIDENTD_DB_CONNECT_TIMEOUT": "1"}),
        rules_dir=ROOT / "rules",
        workers=False,
    )
    app = build_app(settings, proxied)
    try:
        async with AsyncTestClient(app=app) as client:
            await wait_until_ready(app)
            created = await client.post(
                "/api/v1/incidents", json={"title": "before", "severity": "P2"}, headers=WRITER
            )
            assert created.status_code == 201

            proxy.cut()
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"].startswith("database unreachable")
            during = await client.post(
                "/api/v1/incidents", json={"title": "during", "severity": "P2"}, headers=WRITER
            )
            assert during.status_code == 503
            assert during.headers["retry-after"] == "5"
            assert (await client.get("/healthz")).status_code == 200
            assert "incidentd_database_up 0.0" in (await client.get("/metrics")).text

            proxy.restore()
            for _ in range(50):
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await client.get("/readyz")).status_code == 200
            after = await client.post(
                "/api/v1/incidents", json={"title": "after", "severity": "P2"}, headers=WRITER
            )
            assert after.status_code == 201
    finally:
        proxy.close()
    titles = [r["title"] for r in await db.fetch("SELECT title FROM incidents ORDER BY id")]
    assert titles == ["before", "after"]

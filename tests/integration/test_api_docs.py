"""The Swagger UI works offline: every asset its page loads is served by incidentd."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
from litestar.testing import AsyncTestClient

from service.adapters.postgres.database import Database
from service.app import build_app
from service.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


async def test_swagger_loads_nothing_from_another_host(db: Database, database_url: str) -> None:
    settings = msgspec.structs.replace(
        load_settings({}), rules_dir=ROOT / "rules", templates_dir=ROOT / "incident_templates", workers=False
    )
    async with AsyncTestClient(app=build_app(settings, database_url, components=[])) as client:
        page = await client.get("/schema/swagger")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
        assert urls
        assert all(u.startswith("/") for u in urls), urls
        assert "cdn." not in page.text
        for url in urls:
            assert (await client.get(url)).status_code == 200, url

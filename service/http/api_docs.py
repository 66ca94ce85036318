"""The OpenAPI document and the Swagger UI that shows it, served by incidentd itself.

Litestar's Swagger page loads its script, styles and favicon from a CDN by default; an
operator's browser on an isolated network would get a blank page. The swagger-ui-bundle-v2
wheel ships the same files (Swagger UI 5), so they are served from /schema/assets instead.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.router import Router
from litestar.static_files import create_static_files_router

ASSETS = "/schema/assets"


def openapi_config() -> OpenAPIConfig:
    swagger = SwaggerRenderPlugin(
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
    )
    return OpenAPIConfig(
        title="incidentd",
        version="0.1.0",
        description=(
            "Alerting and incident management API."
            " Send `Authorization: Bearer <token>` where an operation asks for it."
        ),
        path="/schema",
        components=Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")},
        ),
        render_plugins=[swagger],
    )


def swagger_assets() -> Router:
    return create_static_files_router(
        path=ASSETS,
        directories=[Path(swagger_ui_bundle.swagger_ui_path)],
        include_in_schema=False,
        name="swagger-assets",
    )

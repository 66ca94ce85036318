"""The web console as a capability: its pages, its static assets and its change feed.

Wiring (service/app.py default_components): `from service.web.component import build`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from litestar import Router
from litestar.static_files import create_static_files_router

from service.components import Component, Context
from service.web import routes_incidents, routes_ops, routes_rca, routes_session, routes_silences
from service.web.answers import WEB_EXCEPTION_HANDLERS
from service.web.change_feed import WEB_FEED, ChangeFeed
from service.web.options import WEB_CLOCK, WEB_OPTIONS, WebOptions, options_from_env
from service.web.service_names import SERVICE_NAMES, ServiceNames

STATIC_DIR = Path(str(resources.files("service.web") / "static"))


def make_build(options: WebOptions) -> Callable[[Context], Component]:
    def build_with(context: Context) -> Component:
        feed = ChangeFeed(context.database_url, degraded_every=options.degraded_refresh_seconds)
        pages = Router(
            path="/",
            route_handlers=[
                routes_session.login_page,
                routes_session.login_submit,
                routes_session.logout,
                routes_session.password_page,
                routes_session.password_submit,
                routes_incidents.incidents_list,
                routes_incidents.incident_page,
                routes_incidents.incident_live,
                routes_incidents.incident_stream,
                routes_incidents.incident_action,
                routes_incidents.incident_severity,
                routes_incidents.incident_assign,
                routes_incidents.incident_note,
                routes_incidents.incident_escalate,
                routes_incidents.notification_retry,
                routes_rca.rca_editor,
                routes_rca.rca_generate,
                routes_rca.rca_regenerate,
                routes_rca.rca_save,
                routes_rca.rca_preview,
                routes_rca.rca_history,
                routes_rca.rca_export,
                routes_rca.rca_chart,
                routes_ops.alerts_page,
                routes_ops.oncall_page,
                routes_ops.rules_page,
                routes_silences.silences_page,
                routes_silences.silence_create,
                routes_silences.silence_expire,
                routes_silences.window_start,
            ],
            exception_handlers=WEB_EXCEPTION_HANDLERS,
            include_in_schema=False,
        )
        static = create_static_files_router(
            path="/static", directories=[STATIC_DIR], include_in_schema=False, name="web-static"
        )
        return Component(
            name="web",
            routes=[pages, static],
            provides=[
                WEB_FEED.given(feed),
                WEB_CLOCK.given(context.clock),
                WEB_OPTIONS.given(options),
                SERVICE_NAMES.given(ServiceNames()),
            ],
            on_shutdown=[feed.close],
        )

    return build_with


def build(context: Context) -> Component:
    """Sessions' lifetime and the sign-in proxy come from the environment (service/web/options.py)."""
    return make_build(options_from_env(context.settings.environment))(context)

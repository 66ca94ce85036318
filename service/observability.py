"""Logging and the service's own Prometheus metrics.

Logs are JSON when stdout is not a terminal (collectors parse them) and
readable on a terminal. A processor scrubs anything that looks like a secret,
as a second line of defence behind simply never logging them.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram

_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|routing_key|dsn|api_key)", re.IGNORECASE)
_DSN_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@")
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
_SLACK_TOKEN = re.compile(r"xox[abposr]-[A-Za-z0-9-]+")


def scrub_text(text: str) -> str:
    text = _DSN_PASSWORD.sub(r"\1***@", text)
    text = _BEARER.sub(r"\1***", text)
    return _SLACK_TOKEN.sub("xox?-***", text)


def _scrub(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if _SECRET_KEYS.search(key) and key != "event":
            event_dict[key] = "***"
        elif isinstance(value, str):
            event_dict[key] = scrub_text(value)
    return event_dict


def configure_logging(*, log_format: str = "auto", level: str = "info") -> None:
    as_json = log_format == "json" or (log_format == "auto" and not sys.stdout.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    numeric = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _scrub,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    # Libraries that use the standard library (uvicorn, asyncpg) are kept quiet and at our level.
    logging.basicConfig(
        level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(name)s: %(message)s"
    )
    # While PostgreSQL is away the pool logs a traceback per reconnect attempt; the supervisor's
    # `worker_waiting_for_database` already says so once per retry, in our format.
    logging.getLogger("asyncpg.pool").setLevel(max(numeric, logging.ERROR))


OPEN_INCIDENTS = Gauge("incidentd_open_incidents", "Open (not resolved) incidents by severity", ["severity"])
INCIDENT_EVENTS = Counter(
    "incidentd_incident_events_total", "Timeline events written, by kind (transitions included)", ["kind"]
)
HTTP_REQUESTS = Counter(
    "incidentd_http_requests_total",
    "HTTP requests by route template and status",
    ["method", "path", "status_code"],
)
HTTP_LATENCY = Histogram(
    "incidentd_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "path", "status_code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 3.0, 5.0, 10.0),
)
DATABASE_UP = Gauge("incidentd_database_up", "1 when the last database check succeeded")
AUTH_FAILURES = Counter("incidentd_auth_failures_total", "Rejected API requests", ["reason"])

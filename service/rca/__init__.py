"""RCA documents: generation from the timeline, edits, regeneration and version history.

service.py (documents and versions), the Jinja2 templates and safe Markdown rendering, routes.
May import: domain, incidents (its service), http, adapters, clock, dependencies.
"""

from service.rca.service import (
    ChartNotFound,
    InvalidDocument,
    RcaDocument,
    RcaNotFound,
    RcaService,
    RcaVersionInfo,
    RcaVersionNotFound,
    RcaWrite,
    StaleVersion,
)

__all__ = [
    "ChartNotFound",
    "InvalidDocument",
    "RcaDocument",
    "RcaNotFound",
    "RcaService",
    "RcaVersionInfo",
    "RcaVersionNotFound",
    "RcaWrite",
    "StaleVersion",
]

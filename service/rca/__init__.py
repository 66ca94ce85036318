"""RCA documents: generation from the timeline, edits, regeneration and version history.

service.py (documents and versions), store.py (their SQL), the Jinja2 templates, safe Markdown
rendering, routes.
May import: domain, incidents (its service), http, adapters, clock, dependencies.
"""

from service.rca.service import (
    ChartNotFound,
    InvalidDocument,
    RcaNotFound,
    RcaService,
    RcaVersionNotFound,
    RcaWrite,
    StaleVersion,
)
from service.rca.store import RcaDocument, RcaVersionInfo

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

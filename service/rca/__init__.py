"""RCA documents: generation from the timeline, edits, regeneration and version history."""

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

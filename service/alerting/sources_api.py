"""`GET /api/v1/sources`: every source the rule files declare, and the last read of each of its targets.

Read from PostgreSQL (`source_statuses`, written after every collection by
whichever replica read), so every replica answers the same and a restart loses
nothing. A declared source with no row has not been read yet: no enabled rule
reads it, or its `url_env` / database variable is unset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get

from service.adapters.postgres.database import DATABASE
from service.alerting import source_statuses
from service.alerting.rulebook import RULEBOOK
from service.http.auth import can_read

AnyRequest = Request[Any, Any, Any]
Doc = msgspec.Meta


class TargetStatusView(msgspec.Struct, frozen=True):
    """The last read of one scrape target (or of a Prometheus server or SQL probe, read as one)."""

    instance: Annotated[str, Doc(description="the target's `instance` label (host:port); empty for a "
                                 "Prometheus server or SQL probe")]  # fmt: skip
    labels: Annotated[dict[str, str], Doc(description="the target's labels (job, instance, static labels)")]
    up: Annotated[bool, Doc(description="the last read succeeded")]
    last_read_at: Annotated[datetime, Doc(description="when the last scrape, query or probe ran")]
    last_read_duration_seconds: Annotated[float, Doc(description="how long that read took")]
    last_error: Annotated[str | None, Doc(description="why the last read failed (null when up)")]
    last_warning: Annotated[
        str | None, Doc(description="what a successful read dropped, e.g. duplicate samples")
    ]
    samples: Annotated[
        int | None,
        Doc(description="samples in the last scrape (every sample, not only those rules read), or rows a "
            "query or probe returned; null when the read failed"),
    ]  # fmt: skip
    dropped_samples: Annotated[
        int, Doc(description="samples of the last kept scrape that were dropped as bad lines (a later "
                 "duplicate of a series: the first is kept, as Prometheus does)")
    ]  # fmt: skip
    last_success_at: Annotated[datetime | None, Doc(description="the last read that succeeded, if any")]
    observed_by: Annotated[str, Doc(description="the replica (host:pid) that made the last read")]


class SourceView(msgspec.Struct, frozen=True):
    name: Annotated[str, Doc(description="the source's name in the rule files")]
    kind: Annotated[str, Doc(description="scrape, prometheus or sql")]
    status: Annotated[
        str,
        Doc(description="up (every target answered), down (none did), partial (some did), unknown (not "
            "read yet: no enabled rule reads it, or its variable is unset)"),
    ]  # fmt: skip
    targets_total: int
    targets_up: int
    last_read_at: Annotated[datetime | None, Doc(description="the newest read of any of its targets")]
    targets: list[TargetStatusView]


class SourcesView(msgspec.Struct, frozen=True):
    sources: list[SourceView]


def _target(row: Mapping[str, Any]) -> TargetStatusView:
    return TargetStatusView(
        instance=row["instance"],
        labels=dict(row["labels"]),
        up=row["up"],
        last_read_at=row["read_at"],
        last_read_duration_seconds=row["duration_seconds"],
        last_error=row["error"],
        last_warning=row["warning"],
        samples=row["samples"],
        dropped_samples=row["dropped_samples"],
        last_success_at=row["last_success_at"],
        observed_by=row["replica"],
    )


def _status(targets: Sequence[TargetStatusView]) -> str:
    up = sum(1 for t in targets if t.up)
    if not targets:
        return "unknown"
    return "up" if up == len(targets) else "down" if up == 0 else "partial"


class SourcesController(Controller):
    path = "/api/v1"
    tags = ["sources"]  # noqa: RUF012 - Litestar reads this class attribute

    @get(
        "/sources",
        guards=[can_read],
        summary="Sources and their targets' last reads",
        description="Every declared source (scrape, prometheus, sql) with its status and, per target, "
        "up/down, the last read's time and duration, its error, its sample count and dropped (bad) lines. "
        "The same from every replica: read from PostgreSQL.",
    )
    async def list_sources(self, request: AnyRequest) -> SourcesView:
        declared = RULEBOOK.of(request).current.sources
        async with DATABASE.of(request).connection() as conn:
            rows = source_statuses.by_source(await source_statuses.listing(conn))
        views = []
        for kind, entries in (("scrape", declared.scrape), ("prometheus", declared.prometheus),
                              ("sql", declared.sql)):  # fmt: skip
            for entry in entries:
                targets = [_target(row) for row in rows.get((kind, entry.name), [])]
                views.append(
                    SourceView(
                        name=entry.name,
                        kind=kind,
                        status=_status(targets),
                        targets_total=len(targets),
                        targets_up=sum(1 for t in targets if t.up),
                        last_read_at=max((t.last_read_at for t in targets), default=None),
                        targets=targets,
                    )
                )
        return SourcesView(sources=views)

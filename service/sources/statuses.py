"""What one collection reports: the derived values by rule, and the status of every source and target read.

A status is what `GET /api/v1/sources` shows (through the `source_statuses` table)
and what the synthetic SourceDown alert is raised from, so it says which target,
when, how long, how many samples, and what went wrong, in words without secrets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec

from service.domain.rules import ScrapeTarget
from service.sources.target_scrapes import TargetStatus


class SourceStatus(msgspec.Struct, frozen=True, kw_only=True):
    source: str  # the source's name from the rule files (e.g. "self", "app", a probe name)
    kind: str  # "scrape" | "prometheus" | "sql"
    ok: bool
    error: str | None  # short, human, no secrets (never a DSN password or token)
    labels: dict[str, str]  # the target's static labels (for the synthetic up==0 alert)
    duration_seconds: float
    cached: bool = False  # True when this collect() reused a read made less than an interval ago
    read_at: datetime | None = None  # when the read this status describes happened
    warning: str | None = None  # a read that worked with something dropped (duplicate samples)
    samples: int | None = None  # samples scraped, or rows a query or probe returned; None: no answer
    dropped_samples: int = 0  # lines of a scrape that was kept that were dropped (duplicate series)


class Collection(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    values: dict[str, list[tuple[dict[str, str], float]] | None]  # by rule name; None = unreadable -> held
    statuses: list[SourceStatus]  # one per source attempted, one per target of a scrape source
    inert: list[str]  # sources skipped because their url_env / database env is unset
    # By rule: the {job, instance} of scrape targets that did not answer; their alerts are held.
    held: dict[str, list[dict[str, str]]] = msgspec.field(default_factory=dict)


def target_statuses(
    source: ScrapeTarget, scraped: Sequence[TargetStatus], file_errors: Mapping[str, str], now: datetime
) -> list[SourceStatus]:
    """A status for each target of a scrape source, plus one for each target file that cannot be read."""
    statuses = [
        SourceStatus(
            source=source.name,
            kind="scrape",
            ok=s.ok,
            error=s.error,
            labels=dict(s.target.labels),
            duration_seconds=s.duration_seconds,
            read_at=now,
            warning=s.warning,
            samples=s.samples,
            dropped_samples=s.dropped_samples,
        )
        for s in scraped
    ]
    for file, problem in file_errors.items():
        statuses.append(
            SourceStatus(
                source=source.name,
                kind="scrape",
                ok=False,
                error=problem,
                labels={"job": source.job_name, "instance": file, "file_sd": file},
                duration_seconds=0.0,
                read_at=now,
            )
        )
    return statuses


def summary(statuses: Sequence[SourceStatus]) -> str | None:
    """The source's own error: None when every target answered and every target file reads (or when
    there are no targets at all, like a file_sd directory that is still empty)."""
    down = [s for s in statuses if not s.ok]
    if not down:
        return None
    first = down[0]
    where = first.labels.get("instance", "")
    if len(statuses) == 1:
        return first.error
    return f"{len(down)} of {len(statuses)} down; {where}: {first.error}"

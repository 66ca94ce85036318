"""What every config file shares: the field kinds (durations, severity lists) and the one error.

Rule files, rule tests and every policy file go through `load_located` and `decode`
(yaml_lines.py), so a problem anywhere reads the same: `file:line: field: problem`,
all of them at once. Files that only stop the service at start-up raise
`PolicyError` with that list; `rules check` prints it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import msgspec

from service.config.yaml_lines import DataPath, Problem, Report, decode, load_located
from service.domain.durations import parse_duration
from service.domain.severity import Severity

Scalar = str | int | float
S = TypeVar("S", bound=msgspec.Struct)


class PolicyError(Exception):
    """A config file is missing or invalid; the message is every `file:line: field: problem`, one a line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


def load_file(path: Path, cls: type[S], *, shown_as: str | None = None) -> tuple[S, Report]:
    """Read and decode one file; raises PolicyError unless it decoded. Further checks go in the report."""
    doc, problems = load_located(path, shown_as=shown_as)
    if doc is None:
        raise PolicyError(problems)
    report = Report(doc)
    report.problems.extend(problems)
    decoded = decode(doc.data, cls, (), report)
    if decoded is None:
        raise PolicyError(report.problems)
    return decoded, report


def check(report: Report) -> None:
    """Raise PolicyError if anything was reported: a policy is used whole or not at all."""
    if report.problems:
        raise PolicyError(report.problems)


def duration(raw: Scalar | None, path: DataPath, report: Report, *, positive: bool) -> timedelta | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        report.error(path, "expected a duration such as 5m, got true/false")
        return None
    if isinstance(raw, int | float):
        if raw == 0 and not positive:
            return timedelta(0)
        report.error(path, f"bad duration {raw}: add a unit, e.g. {raw}s or {raw}m")
        return None
    try:
        value = parse_duration(raw)
    except ValueError as exc:
        report.error(path, str(exc))
        return None
    if positive and value <= timedelta(0):
        report.error(path, "must be longer than 0s")
        return None
    return value


def severity(raw: str, path: DataPath, report: Report) -> Severity | None:
    try:
        return Severity.parse(raw)
    except ValueError as exc:
        report.error(path, str(exc))
        return None


def severities(raw: Sequence[str], path: DataPath, report: Report) -> frozenset[Severity]:
    found = (severity(text, (*path, index), report) for index, text in enumerate(raw))
    return frozenset(s for s in found if s is not None)

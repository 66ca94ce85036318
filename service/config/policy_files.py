"""rules/policy/severities.yaml: the severity levels and their response targets."""

from __future__ import annotations

from pathlib import Path

import msgspec

from service.config.fields import PolicyError, check, duration, load_file, severity
from service.domain.severity import Severity, SeverityLevel, SeverityPolicy

__all__ = ["PolicyError", "load_severity_policy"]


class _LevelFile(msgspec.Struct, forbid_unknown_fields=True):
    severity: str
    name: str
    response_target: str
    description: str = ""
    action: str = ""
    examples: list[str] = msgspec.field(default_factory=list)


class _SeverityFile(msgspec.Struct, forbid_unknown_fields=True):
    levels: list[_LevelFile]


def load_severity_policy(path: Path) -> SeverityPolicy:
    decoded, report = load_file(path, _SeverityFile)
    levels: list[SeverityLevel] = []
    for index, level in enumerate(decoded.levels):
        where = ("levels", index)
        parsed = severity(level.severity, (*where, "severity"), report)
        target = duration(level.response_target, (*where, "response_target"), report, positive=True)
        if parsed is None or target is None:
            continue
        if parsed in {lv.severity for lv in levels}:
            report.error((*where, "severity"), f"{parsed.label} is listed twice")
        levels.append(
            SeverityLevel(
                severity=parsed,
                name=level.name,
                description=level.description,
                response_target=target,
                examples=tuple(level.examples),
                action=level.action,
            )
        )
    missing = set(Severity) - {lv.severity for lv in levels}
    if missing and not report.problems:
        names = ", ".join(sorted(s.label for s in missing))
        report.error(("levels",), f"no entry for {names}")
    check(report)
    return SeverityPolicy(levels=tuple(sorted(levels, key=lambda lv: lv.severity)))

"""Loading policy files from rules/policy/: decoded with msgspec, errors name the file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import yaml

from service.domain.durations import parse_duration
from service.domain.severity import Severity, SeverityLevel, SeverityPolicy


class PolicyError(Exception):
    """A policy file is missing or invalid; the message says which file and what is wrong."""


class _LevelFile(msgspec.Struct, forbid_unknown_fields=True):
    severity: str
    name: str
    response_target: str
    description: str = ""
    action: str = ""
    examples: list[str] = msgspec.field(default_factory=list)


class _SeverityFile(msgspec.Struct, forbid_unknown_fields=True):
    levels: list[_LevelFile]


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise PolicyError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None


def load_severity_policy(path: Path) -> SeverityPolicy:
    raw = load_yaml(path)
    try:
        decoded = msgspec.convert(raw, _SeverityFile)
    except msgspec.ValidationError as exc:
        raise PolicyError(f"{path}: {exc}") from None
    levels: list[SeverityLevel] = []
    for index, level in enumerate(decoded.levels):
        where = f"{path}: levels[{index}]"
        try:
            severity = Severity.parse(level.severity)
        except ValueError as exc:
            raise PolicyError(f"{where}.severity: {exc}") from None
        try:
            target = parse_duration(level.response_target)
        except ValueError as exc:
            raise PolicyError(f"{where}.response_target: {exc}") from None
        levels.append(
            SeverityLevel(
                severity=severity,
                name=level.name,
                description=level.description,
                response_target=target,
                examples=tuple(level.examples),
                action=level.action,
            )
        )
    missing = set(Severity) - {lv.severity for lv in levels}
    if missing:
        names = ", ".join(sorted(s.label for s in missing))
        raise PolicyError(f"{path}: levels: no entry for {names}")
    if len(levels) != len({lv.severity for lv in levels}):
        raise PolicyError(f"{path}: levels: a severity is listed twice")
    return SeverityPolicy(levels=tuple(sorted(levels, key=lambda lv: lv.severity)))

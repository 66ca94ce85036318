"""Prometheus file_sd files (JSON or YAML: a list of `{targets: [...], labels: {...}}`).

Read when the rules load (so `incidentd check` reports a broken one) and again by the scrape
sources whenever a file changes (service/sources/targets.py).
"""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from service.domain.rules import LABEL_PATTERN

ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::\d{1,5})?$")


class FileSdError(ValueError):
    """A file_sd file that cannot be read or is not in the format; the message names the file."""


def address_problem(address: str) -> str | None:
    if "://" in address or "/" in address:
        return f"expected host:port, got {address!r} (the scheme goes in scheme:, the path in metrics_path:)"
    if not ADDRESS.match(address):
        return f"expected host:port, got {address!r}"
    return None


def parse_file_sd(path: Path) -> list[tuple[list[str], dict[str, str]]]:
    """The target groups of one file_sd file; raises FileSdError saying what is wrong and where."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileSdError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise FileSdError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise FileSdError(f"{path}: expected a list of {{targets: [...], labels: {{...}}}}")
    groups: list[tuple[list[str], dict[str, str]]] = []
    for index, group in enumerate(data):
        where = f"{path}: group {index + 1}"
        if not isinstance(group, dict) or set(group) - {"targets", "labels"}:
            raise FileSdError(f"{where}: expected only targets and labels")
        targets = group.get("targets") or []
        labels = group.get("labels") or {}
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise FileSdError(f"{where}: targets must be a list of host:port")
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise FileSdError(f"{where}: labels must map names to text")
        for target in targets:
            if (problem := address_problem(target)) is not None:
                raise FileSdError(f"{where}: {problem}")
        for name in labels:
            if not LABEL_PATTERN.match(str(name)) and not str(name).startswith("__"):
                raise FileSdError(f"{where}: bad label name {name!r}")
        groups.append((list(targets), {str(k): v for k, v in labels.items() if not str(k).startswith("__")}))
    return groups


def expand_file_sd(patterns: Sequence[str]) -> list[Path]:
    """Prometheus allows a glob in the last part of a file_sd path."""
    found: list[Path] = []
    for pattern in patterns:
        found.extend(
            Path(p) for p in sorted(glob.glob(pattern)) if Path(p).suffix in {".json", ".yml", ".yaml"}
        )
    return found

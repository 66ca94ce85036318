"""rules/policy/rca.yaml: which RCA template an incident starts from, by service and by severity."""

from __future__ import annotations

from pathlib import Path

import msgspec

from service.config.policy_files import PolicyError, load_yaml
from service.domain.rca import TemplatePolicy


class _Templates(msgspec.Struct, forbid_unknown_fields=True):
    by_severity: dict[str, str] = msgspec.field(default_factory=dict)
    by_service: dict[str, str] = msgspec.field(default_factory=dict)


class _RcaFile(msgspec.Struct, forbid_unknown_fields=True):
    templates: _Templates


def load_rca_policy(path: Path) -> TemplatePolicy:
    """The file's choices over the built-in defaults; no file means the defaults (002's template for P0/P1,
    the short one for P2/P3)."""
    if not path.exists():
        return TemplatePolicy()
    raw = load_yaml(path)
    try:
        decoded = msgspec.convert(raw, _RcaFile)
    except msgspec.ValidationError as exc:
        raise PolicyError(f"{path}: {exc}") from None
    for name in [*decoded.templates.by_severity.values(), *decoded.templates.by_service.values()]:
        if not name.endswith(".j2") or "/" in name:
            raise PolicyError(
                f"{path}: templates: {name!r} is not a template file name (e.g. rca-short.md.j2)"
            )
    try:
        return TemplatePolicy.from_config(
            by_severity=decoded.templates.by_severity, by_service=decoded.templates.by_service
        )
    except ValueError as exc:
        raise PolicyError(f"{path}: templates.by_severity: {exc}") from None

"""rules/policy/rca.yaml: which RCA template an incident starts from, by service and by severity."""

from __future__ import annotations

from pathlib import Path

import msgspec

from service.config.fields import check, load_file, severity
from service.domain.rca_templates import TemplatePolicy


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
    decoded, report = load_file(path, _RcaFile)
    templates = decoded.templates
    for key in templates.by_severity:
        severity(key, ("templates", "by_severity", key), report)
    for group, names in (("by_severity", templates.by_severity), ("by_service", templates.by_service)):
        for key, name in names.items():
            if not name.endswith(".j2") or "/" in name:
                report.error(
                    ("templates", group, key), f"{name!r} is not a template file name (e.g. rca-short.md.j2)"
                )
    check(report)
    return TemplatePolicy.from_config(by_severity=templates.by_severity, by_service=templates.by_service)

"""Which template an incident's RCA starts from, and the review deadlines counted from resolution.

Deadlines: 002_b1ab8eb4e8f4fb2c.txt "Post-Incident Review" (draft within 24 h, complete within 48 h)
and 000_ecc4e94453621508.txt ("Post-Mortem (within 48 hours for P0/P1)").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import msgspec

from service.domain.incidents import Incident
from service.domain.severity import Severity

DEFAULT_TEMPLATE = "rca-default.md.j2"
SHORT_TEMPLATE = "rca-short.md.j2"
DRAFT_DUE = timedelta(hours=24)
COMPLETE_DUE = timedelta(hours=48)


class TemplatePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Which template an incident's RCA starts from: a service's own wins, then the severity's."""

    by_severity: dict[Severity, str] = msgspec.field(
        default_factory=lambda: {
            Severity.P0: DEFAULT_TEMPLATE,
            Severity.P1: DEFAULT_TEMPLATE,
            Severity.P2: SHORT_TEMPLATE,
            Severity.P3: SHORT_TEMPLATE,
        }
    )
    by_service: dict[str, str] = msgspec.field(default_factory=dict)
    service_label: str = "service"
    fallback: str = DEFAULT_TEMPLATE

    @classmethod
    def from_config(
        cls, *, by_severity: Mapping[str, str] | None = None, by_service: Mapping[str, str] | None = None
    ) -> TemplatePolicy:
        """Build from a policy file's spelling (`P0: rca-default.md.j2`); unnamed severities keep defaults."""
        policy = cls()
        severities = dict(policy.by_severity)
        for key, name in (by_severity or {}).items():
            severities[Severity.parse(key)] = name
        return cls(by_severity=severities, by_service=dict(by_service or {}))

    def choose(self, incident: Incident) -> str:
        service = incident.labels.get(self.service_label)
        if service is not None and service in self.by_service:
            return self.by_service[service]
        return self.by_severity.get(incident.severity, self.fallback)

    def names(self) -> list[str]:
        return sorted({self.fallback, *self.by_severity.values(), *self.by_service.values()})

"""How long finished things are kept (INCIDENTD_RETENTION_* settings; see README "Configuration")."""

from __future__ import annotations

import msgspec


class RetentionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Ages in days (0 keeps forever); `rca_versions` is how many versions per RCA are kept."""

    sent_notifications_days: int = 30
    escalation_steps_days: int = 90
    rule_evaluations_days: int = 30
    rca_versions: int = 50
    batch: int = 1000

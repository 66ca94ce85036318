"""The shape of GET /api/v1/reports/response, so OpenAPI documents every field."""

from __future__ import annotations

import msgspec


class Durations(msgspec.Struct, kw_only=True):
    incidents: int
    acknowledged: int
    mtta_median_seconds: float | None
    mtta_p90_seconds: float | None
    resolved: int
    mttr_median_seconds: float | None
    mttr_p90_seconds: float | None


class SeverityDurations(Durations, kw_only=True):
    severity: str


class ServiceDurations(Durations, kw_only=True):
    service: str


class WeekDurations(Durations, kw_only=True):
    week: str  # the Monday (UTC) the week starts


class Pages(msgspec.Struct, kw_only=True):
    target: str  # a PagerDuty routing-key reference (never the key)
    pages: int
    out_of_hours: int


class Notified(msgspec.Struct, kw_only=True):
    kind: str  # pagerduty, slack_users, slack_usergroups, slack_channels
    target: str
    times: int
    out_of_hours: int


class RuleAlerts(msgspec.Struct, kw_only=True):
    rule: str
    alerts: int
    incidents: int
    flaps: int


class AlertRatio(msgspec.Struct, kw_only=True):
    alerts: int
    incidents: int
    alerts_per_incident: float | None
    by_rule: list[RuleAlerts]


class LevelEscalations(msgspec.Struct, kw_only=True):
    level: int | None
    escalations: int


class Hours(msgspec.Struct, kw_only=True):
    time_zone: str
    start: str
    end: str
    days: list[int]  # ISO weekdays, Monday = 1


class ResponseReport(msgspec.Struct, kw_only=True):
    since: str
    until: str
    overall: Durations
    by_severity: list[SeverityDurations]
    by_service: list[ServiceDurations]
    by_week: list[WeekDurations]
    pages: list[Pages]
    notified: list[Notified]
    alerts: AlertRatio
    flapping_rules: list[RuleAlerts]
    escalations_by_level: list[LevelEscalations]
    business_hours: Hours

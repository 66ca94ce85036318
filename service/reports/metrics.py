"""Prometheus metrics for response times, observed as incident changes commit (after-commit listener).

Grafana reads MTTA/MTTR quantiles from the histograms with histogram_quantile(); the API's
/api/v1/reports/response computes exact figures from the timeline. Here every acknowledgement and
every resolution is observed (one that is undone and done again counts again), measured from when
the incident opened.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from service.domain import event_payloads
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import AlertFacts, DeliveryReceipt, Escalated
from service.domain.report_schedule import BusinessHours
from service.incidents.transaction import IncidentChange

# From seconds to days: P0s are acknowledged within minutes, P3s may take a working day.
_BUCKETS = (
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    86400.0,
    259200.0,
)

TIME_TO_ACKNOWLEDGE = Histogram(
    "incidentd_incident_time_to_acknowledge_seconds",
    "From an incident opening to its acknowledgement, by severity and service",
    ["severity", "service"],
    buckets=_BUCKETS,
)
TIME_TO_RESOLVE = Histogram(
    "incidentd_incident_time_to_resolve_seconds",
    "From an incident opening to its resolution, by severity and service",
    ["severity", "service"],
    buckets=_BUCKETS,
)
PAGES = Counter(
    "incidentd_pages_total",
    "PagerDuty triggers delivered, by routing-key reference and whether outside business hours",
    ["target", "out_of_hours"],
)
_PAGE = ("pagerduty", "trigger")
ESCALATIONS = Counter("incidentd_escalations_total", "Escalations, by ladder level", ["level"])
ALERTS = Counter("incidentd_rule_alerts_total", "Alert firings reaching incidents, by rule", ["rule"])
FLAPS = Counter("incidentd_rule_flaps_total", "Alerts that fired again after clearing, by rule", ["rule"])


# An alert fired into an incident (a flap when it fired again while mitigated).
_ALERTED = frozenset({EventKind.DECLARED, EventKind.ATTACHED, EventKind.RETRIGGERED})


class ResponseMetrics:
    """The after-commit listener; cheap and in-process, it never touches the database."""

    def __init__(self, hours: BusinessHours) -> None:
        self._hours = hours

    def __call__(self, change: IncidentChange) -> None:
        incident = change.incident
        labels = {"severity": incident.severity.label, "service": incident.labels.get("service", "")}
        for event in change.events:
            since_open = max(0.0, (event.at - incident.created_at).total_seconds())
            told = event_payloads.decode(event.kind, event.data)
            if event.kind == EventKind.ACKNOWLEDGED:
                TIME_TO_ACKNOWLEDGE.labels(**labels).observe(since_open)
            elif event.kind == EventKind.RESOLVED:
                TIME_TO_RESOLVE.labels(**labels).observe(since_open)
            elif isinstance(told, Escalated):
                ESCALATIONS.labels(level=str(told.level)).inc()
            elif (
                isinstance(told, DeliveryReceipt)
                and event.kind == EventKind.NOTIFICATION_SENT
                and (told.channel, told.kind) == _PAGE
            ):
                outside = "false" if self._hours.within(event.at) else "true"
                PAGES.labels(target=told.target, out_of_hours=outside).inc()
            if event.kind in _ALERTED and isinstance(told, AlertFacts) and told.rule:
                ALERTS.labels(rule=told.rule).inc()
                if event.kind == EventKind.RETRIGGERED:
                    FLAPS.labels(rule=told.rule).inc()

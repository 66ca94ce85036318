"""Everything the incident page and its live fragment show, read in one place.

The capabilities' detail contributors (escalation, notifications, alerts) are the
same ones GET /api/v1/incidents/{id} uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from litestar import Request
from markupsafe import Markup

from service.alerting.rulebook import RULEBOOK
from service.domain.absence import MISSING_TEXT
from service.domain.incidents import Incident, TimelineEvent
from service.domain.units import format_quantity
from service.escalation.service import ESCALATION
from service.incidents.details import DETAIL_CONTRIBUTORS, contributed
from service.incidents.routes import SEVERITY_POLICY
from service.incidents.service import INCIDENTS
from service.rca.service import RCA
from service.web import views
from service.web.options import WEB_CLOCK

AnyRequest = Request[Any, Any, Any]


def alert_describer(request: AnyRequest) -> Callable[[str, str | None, float | None], tuple[str, str | None]]:
    """Format an alert's value and threshold in its rule's units, when the rule is still loaded."""
    book = RULEBOOK.maybe(request)
    rules = {r.name: r for r in book.current.rules()} if book is not None else {}

    def describe(name: str, level: str | None, value: float | None) -> tuple[str, str | None]:
        rule = rules.get(name)
        if value is None:
            return "no data", None
        if rule is None:
            return f"{value:g}", None
        if rule.absence_of is not None:
            return MISSING_TEXT, None  # a "series missing" alert has no reading, only that it is missing
        threshold = rule.critical if level == "critical" else rule.warning
        return format_quantity(value, rule.unit), threshold.text if threshold else None

    return describe


def _targets(request: AnyRequest, incident: Incident) -> Callable[[int], Mapping[str, list[str]]]:
    escalation = ESCALATION.maybe(request)

    def of_level(number: int) -> Mapping[str, list[str]]:
        if escalation is None:
            return {}
        for level in escalation.oncall(incident.labels):
            if level.number == number:
                data: dict[str, list[str]] = level.targets.as_data()
                return data
        return {}

    return of_level


async def _chart(
    request: AnyRequest, incident: Incident, events: list[TimelineEvent], now: datetime
) -> Markup | None:
    """The alert value chart, drawn on the server at each load (the live regions leave it alone)."""
    rca = RCA.maybe(request)
    svg = await rca.live_chart(incident, events, now) if rca is not None else None
    return Markup(svg) if svg else None  # noqa: S704 - our renderer's SVG; every text in it is escaped


async def incident_context(
    request: AnyRequest, incident_id: int, *, with_chart: bool = False
) -> dict[str, Any]:
    service = INCIDENTS.of(request)
    incident, events = await service.get(incident_id)
    extras: dict[str, Any] = await contributed(DETAIL_CONTRIBUTORS.of(request), incident)
    policy = SEVERITY_POLICY.of(request)
    now = WEB_CLOCK.of(request)()
    return {
        "chart_svg": await _chart(request, incident, list(events), now) if with_chart else None,
        "incident": incident,
        "severity_name": policy.level(incident.severity).name,
        "severity_word": views.SEVERITY_WORD[incident.severity],
        "response_target": policy.response_target(incident.severity),
        "durations": views.durations(incident, now),
        "buttons": views.button_actions(incident),
        "can_resolve": views.can_resolve(incident),
        "escalation": views.escalation_state(incident, extras, _targets(request, incident)),
        "events": [(e, views.event_summary(e), views.event_text(e.data)) for e in reversed(events)],
        "last_event_id": events[-1].id if events else 0,
        "alerts": views.alert_lines(extras, alert_describer(request)),
        "trail": views.trail_lines(extras),
        "has_trail": "notifications" in extras,
        "action_items": extras.get("action_items") or [],
        "has_action_items": "action_items" in extras,
        "severity_word_of": views.SEVERITY_WORD,
    }

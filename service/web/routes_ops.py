"""Alerts that are pending or firing, every rule with its source, and the escalation ladder for a service."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Response

from service.adapters.postgres.database import DATABASE
from service.alerting import source_statuses as stored_statuses
from service.alerting import state_reads as alert_states
from service.alerting.routes import rule_views
from service.alerting.rulebook import RULEBOOK
from service.alerting.source_health import source_down_rule
from service.escalation.service import ESCALATION
from service.web.auth import require_user
from service.web.incident_page import alert_describer
from service.web.render import page
from service.web.rules_view import SOURCE_ORDER, rule_lines, source_rules, source_statuses

AnyRequest = Request[Any, Any, Any]


@get("/alerts", include_in_schema=False)
async def alerts_page(request: AnyRequest) -> Response[str]:
    await require_user(request)
    async with DATABASE.of(request).connection() as conn:
        rows = await alert_states.listing(conn, statuses=["pending", "firing"], rule=None, limit=500)
    describe = alert_describer(request)
    lines = []
    for row in rows:
        value, threshold = describe(row["rule"], row["level"], row["value"])
        lines.append(
            {
                "rule": row["rule"],
                "status": row["status"],
                "level": row["level"],
                "value": value,
                "threshold": threshold,
                "since": row["firing_since"] or row["breach_since"],
                "labels": ", ".join(f"{k}={v}" for k, v in sorted(dict(row["labels"]).items())),
                "incident_id": row["incident_id"],
                "muted": row["muted"],
            }
        )
    return await page(request, "alerts.html", alerts=lines, rules_loaded=RULEBOOK.maybe(request) is not None)


@get("/oncall", include_in_schema=False)
async def oncall_page(
    request: AnyRequest, service: FromQuery[str | None] = None, team: FromQuery[str | None] = None
) -> Response[str]:
    await require_user(request)
    escalation = ESCALATION.maybe(request)
    labels = {k: v.strip()[:200] for k, v in (("service", service), ("team", team)) if v and v.strip()}
    levels = escalation.oncall(labels) if escalation is not None else []
    return await page(
        request,
        "oncall.html",
        labels=labels,
        levels=levels,
        policy=levels[0].policy if levels else None,
        service=labels.get("service", ""),
        team=labels.get("team", ""),
    )


@get("/rules", include_in_schema=False)
async def rules_page(request: AnyRequest) -> Response[str]:
    """The same reading as GET /api/v1/rules, with each rule's source and whether it can be read."""
    await require_user(request)
    book = RULEBOOK.maybe(request)
    if book is None:
        return await page(request, "rules.html", nav="rules", rules=[], sources=[], book=None)
    downs = source_rules(book.current.sources, lambda kind, name: source_down_rule(kind, name).name)
    async with DATABASE.of(request).connection() as conn:
        slots = {row["rule"]: row for row in await alert_states.slots(conn)}
        stored = await stored_statuses.listing(conn)
        alerts = await alert_states.source_down_states(conn, list(downs))
    statuses = source_statuses(downs, stored, alerts)
    lines = rule_lines(rule_views(book, slots), {r.name: r for r in book.current.rules()}, statuses)
    return await page(
        request,
        "rules.html",
        nav="rules",
        rules=lines,
        sources=sorted(statuses.values(), key=lambda s: (SOURCE_ORDER[s.state], s.name)),
        book=book,
    )

"""Alerts and rules over HTTP: what is firing, what each rule last did, and reloading the rule files."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import QueryParameter
from litestar.status_codes import HTTP_200_OK

from service.adapters.postgres.database import DATABASE
from service.alerting import state_reads as alert_states
from service.alerting.reload_broadcast import RULE_RELOADS
from service.alerting.rulebook import RULEBOOK, RuleBook
from service.domain.absence import absent_name
from service.domain.evaluation import alert_labels
from service.domain.rules import Rule
from service.http.auth import can_read, can_write

AnyRequest = Request[Any, Any, Any]
_STATUSES = {"pending", "firing", "resolved"}


class AlertView(msgspec.Struct, frozen=True):
    rule: str
    status: str
    level: str | None
    value: float | None
    labels: dict[str, str]
    group_key: str
    incident_id: int | None
    since: datetime | None
    updated_at: datetime
    # Held back by a silence, maintenance window or inhibit rule when it started firing (no incident yet).
    muted: bool = False


class RuleView(msgspec.Struct, frozen=True):
    name: str
    group: str
    enabled: bool
    comparison: str
    warning: str | None
    critical: str | None
    severity: dict[str, str]
    interval_seconds: float
    for_seconds: float
    source: str
    file: str
    line: int
    last_evaluated_at: datetime | None = None
    last_duration_ms: float | None = None
    last_series: int | None = None
    data_missing: bool | None = None
    # The last evaluation's reading, breaching or not: the worst value among the matched series, how many
    # matched, and what that means ("breaching", "healthy", "no series": the selector matches nothing,
    # "no data": the source could not be read).
    value: float | None = None
    matched_series: int | None = None
    health: str | None = None
    # Opt-in "series missing" alert: on the watched rule, how long no series may last and the companion
    # rule's name; on the companion (health "missing" or "present"), the rule it watches.
    absent_for_seconds: float | None = None
    absent_rule: str | None = None
    absence_of: str | None = None


class RulesView(msgspec.Struct, frozen=True):
    digest: str
    loaded_at: datetime | None
    last_reload_problems: list[str]
    rules: list[RuleView]


class ReloadView(msgspec.Struct, frozen=True):
    accepted: bool
    rules: int
    digest: str
    problems: list[str]


def _book(request: AnyRequest) -> RuleBook:
    return RULEBOOK.of(request)


def _labels(rule: Rule | None, series: dict[str, str]) -> dict[str, str]:
    """The alert's labels as its incident and notifications carry them: the rule's own win, as in
    Prometheus. A rule no longer loaded shows what was stored."""
    return alert_labels(rule, series) if rule is not None else series


def _health(rule: Rule, row: Any) -> str | None:
    if row is None:
        return None
    if row["data_missing"]:
        return "no data"
    if row["matched"] == 0:
        return "no series"
    if row["matched"] is None:
        return None  # evaluated before this was recorded
    if rule.absence_of is not None:
        return "missing" if row["matched"] else "present"
    value = row["value"]
    return "breaching" if value is not None and rule.level_for(value) is not None else "healthy"


def rule_views(book: RuleBook, last: Mapping[str, Any]) -> list[RuleView]:
    """Every loaded rule with what its last evaluation read (`last`: rule_evaluations rows by rule);
    the API and the console's rules page show the same."""
    views = []
    for rule in book.current.rules():
        row = last.get(rule.name)
        views.append(
            RuleView(
                name=rule.name,
                group=rule.group,
                enabled=rule.enabled,
                comparison=rule.comparison.value,
                warning=rule.warning.text if rule.warning else None,
                critical=rule.critical.text if rule.critical else None,
                severity={level.value: sev.label for level, sev in rule.severity.items()},
                interval_seconds=rule.interval.total_seconds(),
                for_seconds=rule.for_.total_seconds(),
                source=rule.signal.source,
                file=rule.file,
                line=rule.line,
                last_evaluated_at=row["evaluated_at"] if row else None,
                last_duration_ms=row["duration_ms"] if row else None,
                last_series=row["series"] if row else None,
                data_missing=row["data_missing"] if row else None,
                value=row["value"] if row else None,
                matched_series=row["matched"] if row else None,
                health=_health(rule, row),
                absent_for_seconds=rule.absent.for_.total_seconds() if rule.absent else None,
                absent_rule=absent_name(rule.name) if rule.absent else None,
                absence_of=rule.absence_of,
            )
        )
    return views


class AlertsController(Controller):
    path = "/api/v1"
    tags = ["alerts"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/alerts", guards=[can_read])
    async def list_alerts(
        self,
        request: AnyRequest,
        status: Annotated[str | None, QueryParameter(description="pending, firing or resolved")] = None,
        rule: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
    ) -> list[AlertView]:
        statuses = None
        if status is not None:
            statuses = [s.strip() for s in status.split(",") if s.strip()]
            unknown = [s for s in statuses if s not in _STATUSES]
            if unknown:
                raise ValidationException(
                    f"status: unknown value {unknown[0]!r} (expected pending, firing or resolved)"
                )
        async with DATABASE.of(request).connection() as conn:
            rows = await alert_states.listing(conn, statuses=statuses, rule=rule, limit=limit)
        rules = {r.name: r for r in _book(request).current.rules()}
        return [
            AlertView(
                rule=row["rule"],
                status=row["status"],
                level=row["level"],
                value=row["value"],
                labels=_labels(rules.get(row["rule"]), row["labels"]),
                group_key=row["group_key"],
                incident_id=row["incident_id"],
                muted=row["muted"],
                since=row["firing_since"] or row["breach_since"],
                updated_at=row["updated_at"],
            )
            for row in rows
        ]

    @get("/rules", guards=[can_read])
    async def list_rules(self, request: AnyRequest) -> RulesView:
        book = _book(request)
        async with DATABASE.of(request).connection() as conn:
            last = {row["rule"]: row for row in await alert_states.slots(conn)}
        return RulesView(
            digest=book.digest,
            loaded_at=book.loaded_at,
            last_reload_problems=book.last_problems,
            rules=rule_views(book, last),
        )

    @post(
        "/rules/reload",
        guards=[can_write],
        status_code=HTTP_200_OK,
        responses={422: ResponseSpec(ReloadView, description="Refused: the rules in force stay in force")},
    )
    async def reload(self, request: AnyRequest) -> Response[ReloadView]:
        reloads = RULE_RELOADS.maybe(request)
        result = await reloads.request(by="API") if reloads is not None else _book(request).reload()
        view = ReloadView(
            accepted=result.accepted, rules=result.rules, digest=result.digest, problems=result.problems
        )
        return Response(view, status_code=200 if result.accepted else 422)

"""GET /api/v1/reports/response: MTTA/MTTR, pages, noisy and flapping rules, escalations per level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.exceptions import ValidationException
from litestar.params import FromQuery

from service.adapters.postgres.database import DATABASE
from service.clock import Clock
from service.dependencies import Key
from service.domain.report_schedule import ReportPolicy
from service.domain.severity import Severity
from service.http.auth import can_read
from service.reports.response_store import response_report
from service.reports.response_views import ResponseReport

REPORT_POLICY: Key[ReportPolicy] = Key("report_policy")
REPORTS_CLOCK: Key[Clock] = Key("reports_clock")
DEFAULT_PERIOD = timedelta(days=30)
LONGEST_PERIOD = timedelta(days=400)


def _moment(field: str, raw: str | None) -> datetime | None:
    if raw is None or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationException(
            detail=f"{field}: not an ISO 8601 time (e.g. 2026-11-01T00:00:00Z)", extra=[{"key": field}]
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _severities(raw: str | None) -> list[Severity] | None:
    if raw is None or not raw.strip():
        return None
    try:
        return [Severity.parse(part) for part in raw.split(",")]
    except ValueError as exc:
        raise ValidationException(detail=f"severity: {exc}", extra=[{"key": "severity"}]) from None


class ReportsController(Controller):
    path = "/api/v1/reports"
    tags = ["reports"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/response", guards=[can_read])
    async def response(
        self,
        request: Request[Any, Any, Any],
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        service: FromQuery[str | None] = None,
        severity: FromQuery[str | None] = None,
    ) -> ResponseReport:
        """Response metrics of the incidents opened in [since, until) (default: the last 30 days).

        `severity` takes `P1` or `P0,P1`; `service` matches the incidents' `service` label. Out of
        hours is outside `business_hours` of rules/policy/reports.yaml.
        """
        end = _moment("until", until) or REPORTS_CLOCK.of(request)()
        start = _moment("since", since) or end - DEFAULT_PERIOD
        if start >= end:
            raise ValidationException(detail="since: must be earlier than until", extra=[{"key": "since"}])
        if end - start > LONGEST_PERIOD:
            raise ValidationException(detail="since: at most 400 days before until", extra=[{"key": "since"}])
        if service is not None and (not service.strip() or len(service) > 200):
            raise ValidationException(
                detail="service: must be 1 to 200 characters", extra=[{"key": "service"}]
            )
        data = await response_report(
            DATABASE.of(request),
            since=start,
            until=end,
            service=service,
            severities=_severities(severity),
            hours=REPORT_POLICY.of(request).hours,
        )
        return msgspec.convert(data, ResponseReport)

"""Reports as a capability: the daily-summary worker, the response report route and its metrics.

Follow-ups due are the open action items (`action_item_followups`) unless the options name another source.
The email part of the summary goes through `ReportOptions.email`, an `EmailPort`: by default
`outbox_email`, the email channel's outbox rows (held, visibly, until SMTP is configured). With
`email=None` the summary goes to Slack only and its run record says the email was skipped.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from service.components import Component, Context
from service.config.escalation_policy_files import DEFAULT_ESCALATION_POLICY, load_escalation_policy
from service.config.report_policy_files import load_report_policy
from service.domain.escalation_policy import RcaTimers
from service.domain.report_schedule import ReportPolicy
from service.reports.daily_run import (
    CHECK_EVERY,
    DAILY_SUMMARIES,
    STALL_AFTER,
    DailySummaries,
    EmailPort,
    outbox_email,
)
from service.reports.metrics import ResponseMetrics
from service.reports.routes import REPORT_POLICY, REPORTS_CLOCK, ReportsController
from service.reports.summary_store import FollowUpSource, action_item_followups
from service.settings import Settings
from service.supervisor import Worker

REPORTS_FILE = "reports.yaml"


@dataclass(frozen=True)
class ReportOptions:
    email: EmailPort | None = outbox_email
    followups: FollowUpSource | None = action_item_followups
    check_every: float = CHECK_EVERY


def report_policy(settings: Settings) -> ReportPolicy:
    return load_report_policy(settings.policies / REPORTS_FILE, settings.environment)


def rca_timers(settings: Settings) -> RcaTimers | None:
    path: Path = settings.escalation_policy or settings.policies / DEFAULT_ESCALATION_POLICY
    escalation, _ = load_escalation_policy(path)
    return escalation.rca if escalation is not None else None


def daily_summaries(context: Context, policy: ReportPolicy, options: ReportOptions) -> DailySummaries:
    settings = context.settings
    return DailySummaries(
        context.db,
        policy,
        rca_timers(settings),
        settings.public_url,
        context.clock,
        f"{socket.gethostname()}:{os.getpid()}",
        email=options.email,
        followups=options.followups,
        check_every=options.check_every,
    )


def make_build(options: ReportOptions) -> Callable[[Context], Component]:
    def build_with(context: Context) -> Component:
        policy = report_policy(context.settings)
        summaries = daily_summaries(context, policy, options)
        return Component(
            name="reports",
            workers=[
                Worker("daily-summary", summaries.loop, stall_after=max(STALL_AFTER, 3 * options.check_every))
            ],
            routes=[ReportsController],
            provides=[
                DAILY_SUMMARIES.given(summaries),
                REPORT_POLICY.given(policy),
                REPORTS_CLOCK.given(context.clock),
            ],
            after_commit=[ResponseMetrics(policy.hours)],
        )

    return build_with


def build(context: Context) -> Component:
    return make_build(ReportOptions())(context)

"""Builds the notifications component against real PostgreSQL and the fake PagerDuty/Slack servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from service.adapters.postgres.database import Database
from service.clock import Clock, system_clock
from service.components import Component, Context
from service.config.notification_policy_files import load_notification_policy
from service.config.policy_files import load_severity_policy
from service.config.silence_policy import SilencePolicy
from service.domain.notification_policy import DeliveryPolicy, NotificationPolicy
from service.incidents.service import IncidentService
from service.notifications.component import NotificationOptions, make_build
from service.notifications.sender import SENDER, Sender
from service.settings import Settings
from service.silences.snapshot import Muter
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
SLACK_TOKEN = "xoxb-111-222-fakefakefake"
FAST = DeliveryPolicy(
    max_attempts=30,
    max_age=timedelta(hours=1),
    backoff_initial=timedelta(milliseconds=20),
    backoff_max=timedelta(milliseconds=200),
)
BREACH = {
    "rule": "checkout_error_rate",
    "value": 0.042,
    "value_text": "4.2%",
    "threshold": 0.01,
    "threshold_text": "1%",
    "comparison": "above",
    "level": "critical",
    "unit": "percent",
    "runbook": "https://runbooks.example/checkout",
    "summary": "checkout error rate 4.2% (critical: above 1%)",
}


def notification_settings(
    pd: FakePagerDuty | None, slack: FakeSlack | None, *, credentials: bool = True, **extra: Any
) -> Settings:
    return Settings(
        rules_dir=ROOT / "rules",
        templates_dir=ROOT / "incident_templates",
        public_url="http://incidentd.test",
        pagerduty_events_url=pd.url if pd else "https://events.pagerduty.com",
        slack_api_url=f"{slack.url}/api/" if slack else "https://slack.com/api/",
        pagerduty_routing_key=ROUTING_KEY if credentials else None,
        slack_bot_token=SLACK_TOKEN if credentials else None,
        **extra,
    )


def build_notifications(
    db: Database,
    settings: Settings,
    *,
    clock: Clock = system_clock,
    env: dict[str, str] | None = None,
    delivery: DeliveryPolicy = FAST,
    storm: bool = True,
    policy: NotificationPolicy | None = None,
    **options: Any,
) -> tuple[IncidentService, Sender, Component]:
    policy = policy or load_notification_policy(ROOT / "rules" / "policy" / "notifications.yaml")
    if not storm:
        policy = msgspec.structs.replace(policy, storm_max_new=None)
    incidents = IncidentService(db, clock=clock)
    context = Context(
        settings=settings,
        database_url="postgresql://unused",
        db=db,
        incidents=incidents,
        clock=clock,
        severity_policy=load_severity_policy(ROOT / "rules" / "policy" / "severities.yaml"),
        muter=Muter(SilencePolicy()),
    )
    opts = NotificationOptions(
        env=env or {},
        delivery=delivery,
        slack_min_interval=options.pop("slack_min_interval", 0.0),  # None: the policy file's pacing
        pacing=options.pop("pacing", {"pagerduty": None}),
        poll_interval=0.05,
        policy=policy,
        **options,
    )
    component = make_build(opts)(context)
    component.attach(incidents)
    BUILT.append(component)
    sender = component.provided(SENDER)
    return incidents, sender, component


BUILT: list[Component] = []


async def close_built() -> None:
    """Close the SDK clients of every component a test built (their pooled sockets)."""
    while BUILT:
        for hook in BUILT.pop().on_shutdown:
            await hook()


async def deliver_until(senders: list[Sender], done: Callable[[], bool], timeout: float = 15.0) -> None:
    """Drain the outbox repeatedly until `done()`; retries are due after short backoffs."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("notifications not delivered in time")
        await asyncio.gather(*(s.drain() for s in senders))
        await asyncio.sleep(0.02)


async def outbox(db: Database, **where: Any) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM notification_outbox ORDER BY id")
    found = [dict(r) for r in rows]
    return [r for r in found if all(r[k] == v for k, v in where.items())]


@contextlib.asynccontextmanager
async def running_fakes(slack: FakeSlack | None = None) -> AsyncIterator[tuple[FakePagerDuty, FakeSlack]]:
    """Both fake servers for one test; whatever the test built is closed before they stop."""
    pd, slack = FakePagerDuty(), slack or FakeSlack()
    await pd.start()
    await slack.start()
    try:
        yield pd, slack
    finally:
        await close_built()
        await pd.stop()
        await slack.stop()

"""rules/policy/notifications.yaml: who is paged and which Slack channels hear what (format in the file)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import msgspec

from service.config.fields import check, duration, load_file, severities
from service.config.yaml_lines import DataPath, Report
from service.domain.notification_policy import ROUTING_KEY_ENV, DeliveryPolicy, NotificationPolicy, SlackRoute


class _PagerDutyFile(msgspec.Struct, forbid_unknown_fields=True):
    page_severities: list[str]
    default_routing_key: str = "default"
    routing_keys: dict[str, str] = msgspec.field(default_factory=dict)
    resolve_when_cleared: bool = True


class _ChannelFile(msgspec.Struct, forbid_unknown_fields=True):
    channel: str
    severities: list[str]


class _StormFile(msgspec.Struct, forbid_unknown_fields=True):
    max_new_incidents: int
    interval: str


class _SlackFile(msgspec.Struct, forbid_unknown_fields=True):
    channels: list[_ChannelFile]
    storm: _StormFile | None = None
    min_interval: str = "1s"


class _DeliveryFile(msgspec.Struct, forbid_unknown_fields=True):
    max_attempts: int = 15
    max_age: str = "24h"
    backoff_initial: str = "2s"
    backoff_max: str = "5m"


class _PolicyFile(msgspec.Struct, forbid_unknown_fields=True):
    pagerduty: _PagerDutyFile
    slack: _SlackFile
    delivery: _DeliveryFile | None = None


def _duration(text: str, path: DataPath, report: Report, *, positive: bool) -> timedelta:
    """A duration the policy cannot do without; a bad one is reported, and the file refused."""
    return duration(text, path, report, positive=positive) or timedelta(0)


def load_notification_policy(path: Path) -> NotificationPolicy:
    raw, report = load_file(path, _PolicyFile)
    pd = raw.pagerduty
    page = severities(pd.page_severities, ("pagerduty", "page_severities"), report)
    routes: list[SlackRoute] = []
    for index, route in enumerate(raw.slack.channels):
        where: tuple[str | int, ...] = ("slack", "channels", index)
        if not route.channel.strip():
            report.error((*where, "channel"), "empty channel name")
        routes.append(
            SlackRoute(route.channel.strip(), severities(route.severities, (*where, "severities"), report))
        )
    storm = raw.slack.storm
    storm_max: int | None = None
    storm_interval = timedelta(seconds=60)
    if storm is not None:
        if storm.max_new_incidents < 1:
            report.error(("slack", "storm", "max_new_incidents"), "must be at least 1")
        storm_max = storm.max_new_incidents
        storm_interval = _duration(storm.interval, ("slack", "storm", "interval"), report, positive=True)
    min_interval = _duration(raw.slack.min_interval, ("slack", "min_interval"), report, positive=False)
    delivery = DeliveryPolicy()
    if raw.delivery is not None:
        d = raw.delivery
        if d.max_attempts < 1:
            report.error(("delivery", "max_attempts"), "must be at least 1")
        delivery = DeliveryPolicy(
            max_attempts=d.max_attempts,
            max_age=_duration(d.max_age, ("delivery", "max_age"), report, positive=True),
            backoff_initial=_duration(
                d.backoff_initial, ("delivery", "backoff_initial"), report, positive=True
            ),
            backoff_max=_duration(d.backoff_max, ("delivery", "backoff_max"), report, positive=True),
        )
    for ref, env_name in pd.routing_keys.items():
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", env_name):
            report.error(
                ("pagerduty", "routing_keys", ref),
                "expected the NAME of an environment variable (e.g. PAGERDUTY_ROUTING_KEY_DB), never a key",
            )
    check(report)
    return NotificationPolicy(
        page_severities=page,
        default_routing_key=pd.default_routing_key,
        routing_key_env={"default": ROUTING_KEY_ENV, **pd.routing_keys},
        slack_routes=tuple(routes),
        storm_max_new=storm_max,
        storm_interval=storm_interval,
        slack_min_interval=min_interval,
        delivery=delivery,
        resolve_when_cleared=pd.resolve_when_cleared,
    )

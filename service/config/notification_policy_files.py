"""rules/policy/notifications.yaml: who is paged and which Slack channels hear what (format in the file)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

from service.config.fields import check, duration, load_file, severities
from service.config.yaml_lines import DataPath, Report
from service.domain.notification_policy import (
    ROUTING_KEY_ENV,
    ChannelRoute,
    DeliveryPolicy,
    NotificationPolicy,
    SlackRoute,
)
from service.domain.severity import Severity

# `check(channel, target)`: the channel plug-ins' verdict on one target (service/notifications/channels).
TargetCheck = Callable[[str, str], str | None]
_ROUTE_FIELDS = ("severities", "match")
_OWN_SECTIONS = ("pagerduty", "slack")


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
    routes: list[dict[str, Any]] = msgspec.field(default_factory=list)


def _route(
    raw: dict[str, Any], where: DataPath, report: Report, check_target: TargetCheck | None
) -> ChannelRoute:
    """One `routes` entry: `severities` (default all), `match` labels, and `<plug-in>: [targets]`."""
    chosen: frozenset[Severity] = frozenset(Severity)
    if "severities" in raw:
        if isinstance(raw["severities"], list) and all(isinstance(v, str) for v in raw["severities"]):
            chosen = severities(raw["severities"], (*where, "severities"), report)
        else:
            report.error((*where, "severities"), "expected a list of severities such as [P0, P1]")
    match: dict[str, str] = {}
    if "match" in raw:
        found = raw["match"]
        if isinstance(found, dict) and all(isinstance(v, str) for v in found.values()):
            match = {str(k): v for k, v in found.items()}
        else:
            report.error((*where, "match"), "expected labels and their values, e.g. {service: payments}")
    targets: dict[str, tuple[str, ...]] = {}
    for channel, values in raw.items():
        if channel in _ROUTE_FIELDS:
            continue
        at = (*where, channel)
        if channel in _OWN_SECTIONS:
            report.error(at, f"{channel} is routed by its own section of this file")
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            report.error(at, "expected a list of targets (text)")
            continue
        for index, value in enumerate(values):
            problem = "empty target" if not value.strip() else None
            if problem is None and check_target is not None:
                problem = check_target(str(channel), value)
            if problem and problem.startswith("no channel plug-in"):
                report.error(at, problem)
                break
            if problem:
                report.error((*at, index), problem)
        targets[str(channel)] = tuple(v.strip() for v in values)
    if not targets:
        report.error(where, "a route needs targets, e.g. email: [oncall@example.com]")
    return ChannelRoute(severities=chosen, match=match, targets=targets)


def _duration(text: str, path: DataPath, report: Report, *, positive: bool) -> timedelta:
    """A duration the policy cannot do without; a bad one is reported, and the file refused."""
    return duration(text, path, report, positive=positive) or timedelta(0)


def load_notification_policy(path: Path, *, check_target: TargetCheck | None = None) -> NotificationPolicy:
    """`check_target`: judge `routes` targets by their plug-ins (`incidentd check` and start-up)."""
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
    channel_routes = [
        _route(route, ("routes", index), report, check_target)
        if isinstance(route, dict)
        else ChannelRoute(severities=frozenset())
        for index, route in enumerate(raw.routes)
    ]
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
        channel_routes=tuple(channel_routes),
    )

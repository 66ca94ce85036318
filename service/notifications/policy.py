"""Notification routing and delivery policy, loaded from rules/policy/notifications.yaml.

Which severities page and which Slack channels hear about what come from the
runbook (shared/seeds/002_b1ab8eb4e8f4fb2c.txt, "Alert Channels"); keeping them
in a file lets operators change routing without a release. Routing keys are
references (`default`, `database`) resolved from the environment at send time,
so no secret is ever written to the database or the policy file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import msgspec

from service.config.yaml_lines import Report, decode, load_located
from service.domain.durations import parse_duration
from service.domain.severity import Severity

ROUTING_KEY_ENV = "PAGERDUTY_ROUTING_KEY"


class NotificationPolicyError(Exception):
    """The policy file is invalid; the message lists every `file:line: field: problem`."""


class _PagerDutyFile(msgspec.Struct, forbid_unknown_fields=True):
    page_severities: list[str]
    default_routing_key: str = "default"
    routing_keys: dict[str, str] = msgspec.field(default_factory=dict)


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


class SlackRoute(msgspec.Struct, frozen=True):
    channel: str
    severities: frozenset[Severity]


class DeliveryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    max_attempts: int = 15
    max_age: timedelta = timedelta(hours=24)
    backoff_initial: timedelta = timedelta(seconds=2)
    backoff_max: timedelta = timedelta(minutes=5)


class NotificationPolicy(msgspec.Struct, frozen=True, kw_only=True):
    page_severities: frozenset[Severity]
    default_routing_key: str
    routing_key_env: dict[str, str]
    slack_routes: tuple[SlackRoute, ...]
    storm_max_new: int | None
    storm_interval: timedelta
    slack_min_interval: timedelta
    delivery: DeliveryPolicy

    def pages(self, severity: Severity) -> bool:
        return severity in self.page_severities

    def slack_channels(self, severity: Severity) -> list[str]:
        return [r.channel for r in self.slack_routes if severity in r.severities]

    def env_name(self, ref: str) -> str:
        """The environment variable holding the routing key a reference names."""
        if ref in self.routing_key_env:
            return self.routing_key_env[ref]
        return f"{ROUTING_KEY_ENV}_{re.sub(r'[^A-Z0-9]', '_', ref.upper())}"

    def resolve_routing_key(self, ref: str, env: Mapping[str, str]) -> str | None:
        value = env.get(self.env_name(ref), "").strip()
        return value or None


def _severities(raw: list[str], path: tuple[str | int, ...], report: Report) -> frozenset[Severity]:
    found: set[Severity] = set()
    for index, text in enumerate(raw):
        try:
            found.add(Severity.parse(text))
        except ValueError as exc:
            report.error((*path, index), str(exc))
    return frozenset(found)


def _duration(text: str, path: tuple[str | int, ...], report: Report, *, minimum: float = 0.0) -> timedelta:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        report.error(path, str(exc))
        return timedelta(0)
    if value.total_seconds() <= minimum:
        report.error(path, "must be longer than zero")
    return value


def load_notification_policy(path: Path) -> NotificationPolicy:
    doc, problems = load_located(path)
    if doc is None:
        raise NotificationPolicyError("\n".join(str(p) for p in problems))
    report = Report(doc)
    report.problems.extend(problems)
    raw = decode(doc.data, _PolicyFile, (), report)
    if raw is None:
        raise NotificationPolicyError("\n".join(str(p) for p in sorted(report.problems)))
    pd = raw.pagerduty
    page = _severities(pd.page_severities, ("pagerduty", "page_severities"), report)
    routes: list[SlackRoute] = []
    for index, route in enumerate(raw.slack.channels):
        where: tuple[str | int, ...] = ("slack", "channels", index)
        if not route.channel.strip():
            report.error((*where, "channel"), "empty channel name")
        routes.append(
            SlackRoute(route.channel.strip(), _severities(route.severities, (*where, "severities"), report))
        )
    storm = raw.slack.storm
    storm_max: int | None = None
    storm_interval = timedelta(seconds=60)
    if storm is not None:
        if storm.max_new_incidents < 1:
            report.error(("slack", "storm", "max_new_incidents"), "must be at least 1")
        storm_max = storm.max_new_incidents
        storm_interval = _duration(storm.interval, ("slack", "storm", "interval"), report)
    min_interval = _duration(raw.slack.min_interval, ("slack", "min_interval"), report, minimum=-1)
    delivery = DeliveryPolicy()
    if raw.delivery is not None:
        d = raw.delivery
        if d.max_attempts < 1:
            report.error(("delivery", "max_attempts"), "must be at least 1")
        delivery = DeliveryPolicy(
            max_attempts=d.max_attempts,
            max_age=_duration(d.max_age, ("delivery", "max_age"), report),
            backoff_initial=_duration(d.backoff_initial, ("delivery", "backoff_initial"), report),
            backoff_max=_duration(d.backoff_max, ("delivery", "backoff_max"), report),
        )
    for ref, env_name in pd.routing_keys.items():
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", env_name):
            report.error(
                ("pagerduty", "routing_keys", ref),
                "expected the NAME of an environment variable (e.g. PAGERDUTY_ROUTING_KEY_DB), never a key",
            )
    if report.problems:
        raise NotificationPolicyError("\n".join(str(p) for p in sorted(report.problems)))
    return NotificationPolicy(
        page_severities=page,
        default_routing_key=pd.default_routing_key,
        routing_key_env={"default": ROUTING_KEY_ENV, **pd.routing_keys},
        slack_routes=tuple(routes),
        storm_max_new=storm_max,
        storm_interval=storm_interval,
        slack_min_interval=min_interval,
        delivery=delivery,
    )

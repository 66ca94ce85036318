"""Notification routing and delivery policy: which severities page, which Slack channels hear what.

Which severities page and which Slack channels hear about what come from the
runbook (002_b1ab8eb4e8f4fb2c.txt, "Alert Channels"); rules/policy/notifications.yaml
lets operators change routing without a release. Routing keys are references
(`default`, `database`) resolved from the environment at send time, so no secret
is ever written to the database or the policy file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

import msgspec

from service.domain.severity import Severity

ROUTING_KEY_ENV = "PAGERDUTY_ROUTING_KEY"


class SlackRoute(msgspec.Struct, frozen=True):
    channel: str
    severities: frozenset[Severity]


class ChannelRoute(msgspec.Struct, frozen=True, kw_only=True):
    """Targets of other channel plug-ins (email, webhook) for incidents of these severities whose
    labels include `match` (e.g. {"service": "payments"}): told from declaration on, like Slack."""

    severities: frozenset[Severity]
    match: dict[str, str] = msgspec.field(default_factory=dict)
    targets: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)

    def applies(self, severity: Severity, labels: Mapping[str, str]) -> bool:
        return severity in self.severities and all(labels.get(k) == v for k, v in self.match.items())


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
    resolve_when_cleared: bool = True
    channel_routes: tuple[ChannelRoute, ...] = ()

    def pages(self, severity: Severity) -> bool:
        return severity in self.page_severities

    def slack_channels(self, severity: Severity) -> list[str]:
        return [r.channel for r in self.slack_routes if severity in r.severities]

    def routed_targets(self, severity: Severity, labels: Mapping[str, str]) -> list[tuple[str, str]]:
        """(channel plug-in, target) pairs the `channels` section sends this incident to, in file order."""
        found: list[tuple[str, str]] = []
        for route in self.channel_routes:
            if route.applies(severity, labels):
                found += [(c, t) for c, ts in route.targets.items() for t in ts if (c, t) not in found]
        return found

    def env_name(self, ref: str) -> str:
        """The environment variable holding the routing key a reference names."""
        if ref in self.routing_key_env:
            return self.routing_key_env[ref]
        return f"{ROUTING_KEY_ENV}_{re.sub(r'[^A-Z0-9]', '_', ref.upper())}"

    def resolve_routing_key(self, ref: str, env: Mapping[str, str]) -> str | None:
        value = env.get(self.env_name(ref), "").strip()
        return value or None

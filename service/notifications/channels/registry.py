"""The channel plug-ins this service is built with: adding a channel is a package and one line here.

Each entry builds a `Notifier` from what every channel may use (`ChannelContext`); the
composition root (service/notifications/component.py, wired by service/app.py) registers them
by name, and the sender, the hold/release stage and `incidentd check` find them there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from service.adapters.postgres.database import Database
from service.domain.notification_policy import NotificationPolicy
from service.notifications.channels.pagerduty import plugin as pagerduty
from service.notifications.channels.slack import plugin as slack
from service.notifications.notifier import Notifier, Pacing
from service.settings import Settings


@dataclass(frozen=True)
class ChannelContext:
    settings: Settings
    env: Mapping[str, str]  # the environment the service's secrets come from
    policy: NotificationPolicy
    db: Database  # the sender's pool
    # Tests: a channel named here is paced so (None: not at all) instead of by its provider's limit.
    pacing: Mapping[str, Pacing | None] = field(default_factory=dict)

    def pacing_for(self, channel: str, default: Pacing | None) -> Pacing | None:
        return self.pacing.get(channel, default)


ChannelFactory = Callable[[ChannelContext], Notifier]

CHANNELS: tuple[ChannelFactory, ...] = (
    pagerduty.build,
    slack.build,
)

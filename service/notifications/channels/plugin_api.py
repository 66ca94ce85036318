"""What a channel plug-in is given and what it registers (service/notifications/channels/registry.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from service.adapters.postgres.database import Database
from service.domain.notification_policy import NotificationPolicy
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


@dataclass(frozen=True)
class ChannelPlugin:
    """A channel package's registration: its name, how to build it, and how to judge a policy target."""

    name: str
    build: ChannelFactory
    check_target: Callable[[str], str | None]
    # Its settings' problems, each naming the variable and never echoing a value (start-up and check).
    check_settings: Callable[[Mapping[str, str]], list[str]] = lambda env: []

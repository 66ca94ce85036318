"""The channel plug-ins this service is built with: adding a channel is a package and one line here.

Each entry builds a `Notifier` from what every channel may use (`ChannelContext`); the
composition root (service/notifications/component.py, wired by service/app.py) registers them
by name, and the sender, the hold/release stage and `incidentd check` find them there.
"""

from __future__ import annotations

import difflib

from service.notifications.channels.email import plugin as email
from service.notifications.channels.pagerduty import plugin as pagerduty
from service.notifications.channels.plugin_api import ChannelContext, ChannelFactory, ChannelPlugin
from service.notifications.channels.slack import plugin as slack
from service.notifications.channels.webhook import plugin as webhook

__all__ = ["CHANNELS", "ChannelContext", "ChannelFactory", "ChannelPlugin", "check_target"]


CHANNELS: tuple[ChannelPlugin, ...] = (
    pagerduty.PLUGIN,
    slack.PLUGIN,
    email.PLUGIN,
    webhook.PLUGIN,
)


def check_target(channel: str, target: str, plugins: tuple[ChannelPlugin, ...] = CHANNELS) -> str | None:
    """What `incidentd check` says about one escalation target naming a channel plug-in."""
    by_name = {p.name: p for p in plugins}
    plugin = by_name.get(channel)
    if plugin is None:
        close = difflib.get_close_matches(channel, [*by_name, "slack_channels", "slack_users"], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(by_name)})"
        return f"no channel plug-in named {channel!r}{hint}"
    return plugin.check_target(target)

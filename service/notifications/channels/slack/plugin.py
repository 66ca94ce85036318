"""Registration of the Slack channel (service/notifications/channels/registry.py)."""

from __future__ import annotations

from service.notifications.channels.plugin_api import ChannelContext, ChannelPlugin
from service.notifications.channels.slack.delivery import SlackDelivery
from service.notifications.channels.slack.notifier import NAME, SlackNotifier, check_target
from service.notifications.notifier import Pacing


def build(context: ChannelContext) -> SlackNotifier:
    settings = context.settings
    interval = context.policy.slack_min_interval.total_seconds()
    delivery = SlackDelivery(settings.slack_bot_token, settings.slack_api_url, context.db)
    pacing = context.pacing_for(NAME, Pacing(rate=1.0 / interval, burst=1.0) if interval > 0 else None)
    return SlackNotifier(delivery, settings.slack_bot_token, pacing)


PLUGIN = ChannelPlugin(name=NAME, build=build, check_target=check_target)

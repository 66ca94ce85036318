"""Registration of the outgoing webhook channel (service/notifications/channels/registry.py)."""

from __future__ import annotations

from service.notifications.channels.plugin_api import ChannelContext, ChannelPlugin
from service.notifications.channels.webhook.notifier import NAME, PACING, WebhookNotifier, check_target
from service.notifications.channels.webhook.targets import check_urls


def build(context: ChannelContext) -> WebhookNotifier:
    return WebhookNotifier(context.env, pacing=context.pacing_for(NAME, PACING))


PLUGIN = ChannelPlugin(name=NAME, build=build, check_target=check_target, check_settings=check_urls)

"""Registration of the PagerDuty channel (service/notifications/channels/registry.py)."""

from __future__ import annotations

from service.notifications.channels.pagerduty.delivery import PagerDutyDelivery
from service.notifications.channels.pagerduty.notifier import NAME, PACING, PagerDutyNotifier, check_target
from service.notifications.channels.plugin_api import ChannelContext, ChannelPlugin


def build(context: ChannelContext) -> PagerDutyNotifier:
    env = dict(context.env)
    if context.settings.pagerduty_routing_key:
        env["PAGERDUTY_ROUTING_KEY"] = context.settings.pagerduty_routing_key
    delivery = PagerDutyDelivery(context.policy, env, context.settings.pagerduty_events_url)
    return PagerDutyNotifier(delivery, context.pacing_for(NAME, PACING))


PLUGIN = ChannelPlugin(name=NAME, build=build, check_target=check_target)

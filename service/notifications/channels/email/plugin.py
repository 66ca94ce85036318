"""Registration of the email channel (service/notifications/channels/registry.py)."""

from __future__ import annotations

from collections.abc import Mapping

from service.notifications.channels.email.notifier import NAME, PACING, EmailNotifier, check_target
from service.notifications.channels.email.smtp_settings import SmtpSettingsError, parse
from service.notifications.channels.plugin_api import ChannelContext, ChannelPlugin


def build(context: ChannelContext) -> EmailNotifier:
    return EmailNotifier(parse(context.env), pacing=context.pacing_for(NAME, PACING))


def check_settings(env: Mapping[str, str]) -> list[str]:
    try:
        parse(env)
    except SmtpSettingsError as exc:
        return [str(exc)]
    return []


PLUGIN = ChannelPlugin(name=NAME, build=build, check_target=check_target, check_settings=check_settings)

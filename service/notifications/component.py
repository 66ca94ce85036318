"""Notifications as a capability: the intent observer, the sender worker, the API and the webhook.

Wiring (service/app.py default_components): `from service.notifications.component import build`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from service.components import Component, Context
from service.config.escalation_policy_files import DEFAULT_ESCALATION_POLICY, load_escalation_policy
from service.config.notification_policy_files import load_notification_policy
from service.domain.notification_policy import DeliveryPolicy, NotificationPolicy
from service.domain.severity import Severity
from service.notifications.channels.pagerduty.webhooks import WEBHOOK_SECRETS, pagerduty_webhook
from service.notifications.channels.registry import CHANNELS, ChannelContext, ChannelPlugin
from service.notifications.channels.slack.directory import (
    SLACK_DIRECTORY,
    SlackDirectory,
    SlackLookup,
    policy_names,
)
from service.notifications.intents import IntentWriter
from service.notifications.notifier import Notifiers, Pacing
from service.notifications.routes import NOTIFICATIONS_CLOCK, NotificationController, trail_contributor
from service.notifications.sender import SENDER, Sender
from service.notifications.silence_announcer import announce
from service.supervisor import Worker


@dataclass(frozen=True)
class NotificationOptions:
    """Knobs not (yet) in Settings; tests shrink the timings, production keeps the defaults."""

    env: Mapping[str, str] | None = None  # None: the environment Settings was decoded from
    concurrency: int = 12
    poll_interval: float = 1.0
    delivery: DeliveryPolicy | None = None  # overrides the policy file's `delivery` section
    slack_min_interval: float | None = None  # 0: Slack unpaced
    pacing: Mapping[str, Pacing | None] | None = None  # per channel; None there: unpaced
    policy: NotificationPolicy | None = None
    channels: tuple[ChannelPlugin, ...] = CHANNELS


def make_build(options: NotificationOptions) -> Callable[[Context], Component]:
    def build_with(context: Context) -> Component:
        settings = context.settings
        policy = options.policy or load_notification_policy(settings.policies / "notifications.yaml")
        env = dict(settings.environment if options.env is None else options.env)
        # Each send holds one connection across its call and briefly takes a second (pacing, the
        # attempt note); one more is LISTEN, one the claim's read. Sized so the sender never waits for itself.
        sender_db = context.own_pool("incidentd-sender", 2 * options.concurrency + 2)
        pacing = dict(options.pacing or {})
        if options.slack_min_interval is not None:
            interval = options.slack_min_interval
            pacing.setdefault("slack", Pacing(rate=1.0 / interval) if interval > 0 else None)
        channel_context = ChannelContext(settings, env, policy, sender_db, pacing)
        notifiers = Notifiers([plugin.build(channel_context) for plugin in options.channels])
        # The escalation capability refuses a broken policy at start-up; here it only supplies names.
        escalation, _ = load_escalation_policy(
            settings.escalation_policy or settings.policies / DEFAULT_ESCALATION_POLICY
        )
        names = policy_names(escalation) if escalation is not None else []
        lookup = SlackLookup(settings.slack_bot_token, settings.slack_api_url)
        directory = SlackDirectory(lookup, context.db, context.clock, names)
        sender = Sender(
            sender_db,
            context.incidents,
            notifiers,
            delivery=options.delivery or policy.delivery,
            clock=context.clock,
            concurrency=options.concurrency,
            poll_interval=options.poll_interval,
        )

        # Every channel that hears about the least severe incidents hears about silences and windows.
        silence_channels = policy.slack_channels(Severity.P3)

        async def silence_notices(stop: asyncio.Event) -> None:
            await announce(stop, context.db, context.clock, silence_channels, context.muter.policy.windows)

        async def shutdown() -> None:
            for notifier in notifiers:
                await notifier.close()
            await directory.close()
            if sender_db is not context.db:
                await sender_db.close()

        return Component(
            name="notifications",
            workers=[
                Worker("notification-sender", sender.run, stall_after=60.0),
                Worker("slack-directory", directory.run, stall_after=None),
                *([Worker("silence-notices", silence_notices, stall_after=None)] if silence_channels else []),
            ],
            routes=[NotificationController, pagerduty_webhook],
            detail_contributors={"notifications": trail_contributor(context.db)},
            provides=[
                SENDER.given(sender),
                NOTIFICATIONS_CLOCK.given(context.clock),
                WEBHOOK_SECRETS.given(settings.pagerduty_webhook_secrets),
                SLACK_DIRECTORY.given(directory),
            ],
            observers=[IntentWriter(policy, settings.public_url, context.incidents)],
            after_commit=[lambda _change: sender.wake()],
            on_shutdown=[shutdown],
            metrics_readers=[sender.update_gauges],
        )

    return build_with


def build(context: Context) -> Component:
    return make_build(NotificationOptions())(context)

"""What the channel plug-ins think of the configuration, for `incidentd check` and for start-up.

`incidentd serve` refuses to start on any of these (exit 2, one line each), so a policy naming a
channel nobody built, or an SMTP or webhook URL that can never work, is found before the first
incident rather than by the first page that does not arrive.
"""

from __future__ import annotations

from pathlib import Path

from service.config.escalation_policy_files import DEFAULT_ESCALATION_POLICY, load_escalation_policy
from service.config.fields import PolicyError
from service.config.notification_policy_files import load_notification_policy
from service.notifications.channels.plugin_api import ChannelPlugin
from service.notifications.channels.registry import CHANNELS, check_target
from service.settings import Settings

NOTIFICATIONS_FILE = "notifications.yaml"


def channel_problems(
    settings: Settings, *, base: Path | None = None, plugins: tuple[ChannelPlugin, ...] = CHANNELS
) -> list[str]:
    """Targets a plug-in refuses (`file:line: field: problem`), then each plug-in's settings problems."""

    def judge(channel: str, target: str) -> str | None:
        return check_target(channel, target, plugins)

    problems: list[str] = []
    try:
        load_notification_policy(settings.policies / NOTIFICATIONS_FILE, check_target=judge)
    except PolicyError as exc:
        problems.extend(str(p) for p in exc.problems)
    escalation_file = settings.escalation_policy or settings.policies / DEFAULT_ESCALATION_POLICY
    _, escalation_problems = load_escalation_policy(escalation_file, base=base, check_target=judge)
    problems.extend(str(p) for p in escalation_problems)
    for plugin in plugins:
        problems.extend(plugin.check_settings(settings.environment))
    return problems

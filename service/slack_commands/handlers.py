"""Run a parsed command through the same service layer as the HTTP API and phrase the outcome.

Every refusal the service can give (unknown id, invalid transition, conflict, database away)
becomes a short ephemeral answer with the right usage, never an error page: at 3 a.m. the
person typing needs to know what to type instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from service.adapters.postgres.database import DatabaseUnavailable
from service.clock import Clock
from service.domain.incidents import (
    Action,
    Actor,
    InvalidTransition,
    Status,
    format_human_id,
    incident_page_url,
)
from service.incidents.service import Conflict, IncidentNotFound, IncidentService
from service.notifications.channels.slack.text import escape
from service.rca.action_items import ActionItems
from service.rca.service import RcaService
from service.rca.templates import TemplateError
from service.silences.service import Silences
from service.slack_commands import followup_parsing, parser, silence_parsing
from service.slack_commands.escalation_port import Escalation, OncallLevel
from service.slack_commands.followup_commands import run_followup
from service.slack_commands.replies import (
    Reply,
    already_acknowledged,
    buttons,
    duration,
    headline,
    help_reply,
    list_reply,
    problem_reply,
    show_reply,
    usage_reply,
)
from service.slack_commands.silence_commands import run_silencing

LIST_LIMIT = 15
_LIST_STATUSES: dict[str, list[Status] | None] = {
    "open": [Status.TRIGGERED, Status.ACKNOWLEDGED, Status.MITIGATED],
    "acked": [Status.ACKNOWLEDGED],
    "all": None,
    **{s.value: [s] for s in Status},
}
_DONE = {
    Action.ACKNOWLEDGE: "acknowledged",
    Action.UNACKNOWLEDGE: "unacknowledged",
    Action.MITIGATE: "mitigated",
    Action.RESOLVE: "resolved",
    Action.REOPEN: "reopened",
}
_USAGE_OF_ACTION = {
    Action.ACKNOWLEDGE: "ack",
    Action.MITIGATE: "mitigate",
    Action.RESOLVE: "resolve",
    Action.REOPEN: "reopen",
}


class SlackUser(msgspec.Struct, frozen=True):
    user_id: str
    user_name: str
    channel_id: str = ""
    channel_name: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(name=f"@{self.user_name} ({self.user_id})", source="slack")

    @property
    def mention(self) -> str:
        return f"<@{self.user_id}>"


@dataclass(frozen=True)
class Services:
    incidents: IncidentService
    rca: RcaService | None
    escalation: Escalation | None
    public_url: str
    clock: Clock
    command: str
    silences: Silences | None = None
    action_items: ActionItems | None = None


def command_name(command: parser.Command) -> str:
    """The usage name of a command, for metrics and for the usage line of an error."""
    if isinstance(command, parser.Transition):
        return _USAGE_OF_ACTION.get(command.action, command.action.value)
    names: dict[type[Any], str] = {
        parser.Help: "help",
        parser.ListIncidents: "list",
        parser.Show: "show",
        parser.Declare: "declare",
        parser.Escalate: "escalate",
        parser.ChangeSeverity: "sev",
        parser.Assign: "assign",
        parser.AddNote: "note",
        parser.Rca: "rca",
        parser.Oncall: "oncall",
        silence_parsing.Silence: "silence",
        silence_parsing.ListSilences: "silences",
        silence_parsing.Unsilence: "unsilence",
        silence_parsing.StartWindow: "maintenance",
        followup_parsing.AddFollowup: "followup",
        followup_parsing.ListFollowups: "followup",
        followup_parsing.SetFollowupStatus: "followup",
    }
    return names[type(command)]


async def execute(command: parser.Command, user: SlackUser, services: Services) -> tuple[Reply, str]:
    """The reply, and the outcome for metrics: ok, refused (the service said no) or error."""
    name = command_name(command)
    usage = parser.USAGE_BY_NAME.get(name)
    try:
        return await _run(command, user, services), "ok"
    except IncidentNotFound as exc:
        problem = f"{format_human_id(exc.incident_id)} does not exist"
        return usage_reply(problem, usage, services.command), "refused"
    except (InvalidTransition, Conflict) as exc:
        return usage_reply(escape(str(exc)), usage, services.command), "refused"
    except TemplateError as exc:
        return problem_reply(f"the RCA could not be generated: {exc}"), "error"
    except DatabaseUnavailable:
        return problem_reply("the incident database is unreachable right now; try again in a minute"), "error"


async def _run(command: parser.Command, user: SlackUser, services: Services) -> Reply:
    incidents = services.incidents
    actor = user.actor
    match command:
        case parser.Help():
            return help_reply(services.command)
        case parser.ListIncidents(severities=severities, scope=scope):
            found = await incidents.list(
                statuses=_LIST_STATUSES[scope], severities=list(severities) or None, limit=LIST_LIMIT + 1
            )
            what = " ".join([*(s.label for s in severities), "" if scope == "all" else scope]).strip()
            return list_reply(found, what or "all", LIST_LIMIT, services.clock())
        case parser.Show(incident_id=incident_id):
            incident, events = await incidents.get(incident_id)
            return show_reply(incident, events, services.public_url, services.clock())
        case parser.Declare(severity=severity, title=title):
            details = {"slack": {"channel_id": user.channel_id, "channel_name": user.channel_name}}
            result = await incidents.declare(title=title, severity=severity, actor=actor, details=details)
            text = f"{user.mention} declared {headline(result.incident)}"
            section = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
            return Reply(text, "in_channel", (section, buttons(result.incident)))
        case parser.Transition(action=action, incident_id=incident_id, note=note):
            try:
                incident = await incidents.act(incident_id, action, actor, note=note)
            except InvalidTransition as exc:
                if action is not Action.ACKNOWLEDGE or exc.status is not Status.ACKNOWLEDGED:
                    raise
                current, events = await incidents.get(incident_id)
                return already_acknowledged(current, events, services.clock())
            suffix = f": {escape(note)}" if note else ""
            return Reply(f"{user.mention} {_DONE[action]} {headline(incident)}{suffix}", "in_channel")
        case parser.ChangeSeverity(incident_id=incident_id, severity=severity):
            before, _ = await incidents.get(incident_id)
            incident = await incidents.change_severity(incident_id, severity, actor)
            change = f"{before.severity.label} → {severity.label}"
            return Reply(
                f":arrows_counterclockwise: {user.mention} changed {headline(incident)}: {change}",
                "in_channel",
            )
        case parser.Assign(incident_id=incident_id, assignee=assignee):
            who = assignee or f"@{user.user_name}"
            incident = await incidents.assign(incident_id, who, actor)
            shown = user.mention if assignee is None else escape(who) if not who.startswith("<@") else who
            return Reply(
                f":bust_in_silhouette: {user.mention} assigned {headline(incident)} to {shown}", "in_channel"
            )
        case parser.AddNote(incident_id=incident_id, text=text):
            await incidents.add_note(incident_id, text, actor)
            return Reply(
                f":memo: {user.mention} on *{format_human_id(incident_id)}*: {escape(text)}", "in_channel"
            )
        case parser.Rca(incident_id=incident_id):
            return await _rca(incident_id, user, services)
        case parser.Escalate(incident_id=incident_id):
            if services.escalation is None:
                return problem_reply("escalation is not configured")
            result = await services.escalation.escalate_now(incident_id, actor)
            number, name = getattr(result, "level", None), getattr(result, "level_name", None)
            level = " ".join(str(part) for part in (f"L{number}" if number else None, name) if part)
            to = f" to {escape(level)}" if level else ""
            return Reply(
                f":mega: {user.mention} escalated *{format_human_id(incident_id)}*{to}", "in_channel"
            )
        case parser.Oncall(service=service):
            if services.escalation is None:
                return problem_reply("escalation is not configured")
            labels = {"service": service} if service else {}
            return _oncall_reply(services.escalation.oncall(labels), service)
        case (
            silence_parsing.Silence()
            | silence_parsing.ListSilences()
            | silence_parsing.Unsilence()
            | silence_parsing.StartWindow()
        ):
            return await run_silencing(command, actor.name, user.mention, services.silences, services.clock)
        case (
            followup_parsing.AddFollowup()
            | followup_parsing.ListFollowups()
            | followup_parsing.SetFollowupStatus()
        ):
            return await run_followup(command, actor, user.mention, services.action_items, services.clock())
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


async def _rca(incident_id: int, user: SlackUser, services: Services) -> Reply:
    if services.rca is None:
        return problem_reply("RCA documents are not available in this deployment")
    written = await services.rca.generate(incident_id, user.actor)
    link = f"{incident_page_url(services.public_url, incident_id)}/rca"
    human = format_human_id(incident_id)
    if written.new_version:
        return Reply(f":page_facing_up: {user.mention} started the RCA of *{human}*: {link}", "in_channel")
    version = written.document.version
    return Reply(f":page_facing_up: RCA of *{human}* (version {version}): {link}", "in_channel")


def _oncall_reply(levels: Sequence[OncallLevel], service: str | None) -> Reply:
    scope = f" for `{escape(service)}`" if service else ""
    if not levels:
        return Reply(f"No escalation levels{scope}.")
    lines = [f"*On call{scope}*, in escalation order:"]
    for level in levels:
        targets = level.targets
        who = [
            *(escape(u) if not u.startswith("<@") else u for u in targets.slack_users),
            *(f"#{escape(c.lstrip('#'))}" for c in targets.slack_channels),
            *(f"@{escape(g.lstrip('@'))}" for g in getattr(targets, "slack_usergroups", ())),
            *(f"PagerDuty {escape(p)}" for p in targets.pagerduty),
        ]
        after = "at once" if not level.delay else f"after {duration(level.delay)}"
        lines.append(f"• L{level.number} {escape(level.name)} ({after}): {', '.join(who) or '_nobody_'}")
    return Reply("\n".join(lines))

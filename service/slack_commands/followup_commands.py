"""`/incident followup …`: action items through the same ActionItems use cases as the HTTP API."""

from __future__ import annotations

from datetime import datetime

from service.domain.action_items import ActionItem, ItemStatus, ReminderStage, stage
from service.domain.incidents import Actor, format_human_id
from service.notifications.channels.slack.text import escape
from service.rca.action_items import ActionItems, InvalidItem, ItemNotFound
from service.slack_commands import followup_parsing as parsed
from service.slack_commands.replies import Reply, person, problem_reply

LIST_LIMIT = 20
_VERBS = {ItemStatus.DONE: "closed as done", ItemStatus.DROPPED: "dropped", ItemStatus.OPEN: "reopened"}


def item_line(item: ActionItem, now: datetime, *, with_incident: bool = False) -> str:
    where = f" ({format_human_id(item.incident_id)})" if with_incident else ""
    reached = stage(item, now)
    late = (
        ""
        if reached is None
        else {ReminderStage.OVERDUE: " *overdue*", ReminderStage.DUE: " *due today*"}[reached]
    )
    owner = person(item.owner) if item.owner else "_no owner_"
    state = "" if item.status is ItemStatus.OPEN else f" [{item.status.value}]"
    return f"• `{item.ref}`{where} {escape(item.title)}: {owner}, due {item.due_on.isoformat()}{late}{state}"


async def run_followup(
    command: parsed.FollowupCommand, actor: Actor, mention: str, items: ActionItems | None, now: datetime
) -> Reply:
    if items is None:
        return problem_reply("action items are not available in this deployment")
    try:
        match command:
            case parsed.AddFollowup(incident_id=incident_id, title=title, owner=owner, due_on=due_on):
                item = await items.create(incident_id, title=title, owner=owner, due_on=due_on, actor=actor)
                return Reply(
                    f":clipboard: {mention} added a follow-up to *{item.human_id}*:\n{item_line(item, now)}",
                    "in_channel",
                )
            case parsed.ListFollowups(incident_id=incident_id):
                if incident_id is None:
                    found = await items.listing([ItemStatus.OPEN], LIST_LIMIT + 1)
                    heading = "*Open follow-ups*, soonest due first"
                else:
                    found = await items.for_incident(incident_id)
                    heading = f"*Follow-ups of {format_human_id(incident_id)}*"
                if not found:
                    return Reply(f"{heading}: none yet. Add one with `followup add`.")
                lines = [f"{heading} ({len(found[:LIST_LIMIT])}{'+' if len(found) > LIST_LIMIT else ''}):"]
                lines += [item_line(i, now, with_incident=incident_id is None) for i in found[:LIST_LIMIT]]
                return Reply("\n".join(lines))
            case parsed.SetFollowupStatus(item_id=item_id, status=status):
                before = await items.get(item_id)
                if before.status is status:
                    return Reply(f"`{before.ref}` of *{before.human_id}* is already {status.value}.")
                item = await items.update(item_id, actor, status=status)
                return Reply(
                    f":white_check_mark: {mention} {_VERBS[status]} `{item.ref}` of *{item.human_id}*:"
                    f" {escape(item.title)}",
                    "in_channel",
                )
    except ItemNotFound as exc:
        return problem_reply(f"{exc}; `followup list` shows the open ones")
    except InvalidItem as exc:
        return problem_reply(escape(str(exc)))
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover

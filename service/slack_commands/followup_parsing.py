"""`/incident followup add|list|done|drop|reopen …` text into commands: pure.

    followup add INC-7 [@owner] [YYYY-MM-DD] title…
    followup list [INC-7]          (no id: every open item, soonest due first)
    followup done|drop|reopen AI-12

The parser hands in its own readers for Slack's user references and escaped text, so a name
typed here is read exactly as `assign` reads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import msgspec

from service.domain.action_items import ItemStatus, parse_item_ref, title_problem
from service.domain.incidents import parse_human_id

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CLOSING = {"done": ItemStatus.DONE, "drop": ItemStatus.DROPPED, "reopen": ItemStatus.OPEN}


class FollowupProblem(ValueError):
    """What is wrong with the text, phrased for the person who typed it."""


class AddFollowup(msgspec.Struct, frozen=True):
    incident_id: int
    title: str
    owner: str = ""
    due_on: date | None = None


class ListFollowups(msgspec.Struct, frozen=True):
    incident_id: int | None = None


class SetFollowupStatus(msgspec.Struct, frozen=True):
    item_id: int
    status: ItemStatus


FollowupCommand = AddFollowup | ListFollowups | SetFollowupStatus


def _incident(token: str) -> int:
    try:
        return parse_human_id(token)
    except ValueError:
        raise FollowupProblem(f"`{token}` is not an incident id (write 42, #42 or INC-42)") from None


def _add(rest: str, read_user: Callable[[str], str], read_text: Callable[[str], str]) -> AddFollowup:
    words = rest.split(None, 1)
    if not words:
        raise FollowupProblem("`followup add` needs an incident id, then [@owner] [YYYY-MM-DD] and a title")
    incident_id = _incident(words[0])
    tail = words[1] if len(words) > 1 else ""
    owner, due = "", None
    for _ in range(2):
        head, _, remainder = tail.strip().partition(" ")
        if not owner and (head.startswith("@") or head.startswith("<@")):
            owner = read_user(head)
        elif due is None and _DATE.match(head):
            try:
                due = date.fromisoformat(head)
            except ValueError:
                raise FollowupProblem(f"`{head}` is not a date (write YYYY-MM-DD, e.g. 2026-12-15)") from None
        else:
            break
        tail = remainder
    title = read_text(tail).strip()
    problem = title_problem(title)
    if problem:
        raise FollowupProblem(f"the follow-up's title {problem}")
    return AddFollowup(incident_id=incident_id, title=title, owner=owner, due_on=due)


def parse_followup(
    rest: str, *, read_user: Callable[[str], str], read_text: Callable[[str], str]
) -> FollowupCommand:
    words = rest.strip().split(None, 1)
    verb = words[0].lower() if words else ""
    tail = words[1] if len(words) > 1 else ""
    if verb == "add":
        return _add(tail, read_user, read_text)
    if verb in ("list", "ls", ""):
        args = tail.split()
        if len(args) > 1:
            raise FollowupProblem(f"`followup list` takes at most an incident id, not `{tail}`")
        return ListFollowups(_incident(args[0]) if args else None)
    if verb in CLOSING:
        args = tail.split()
        if len(args) != 1:
            raise FollowupProblem(f"`followup {verb}` needs one action item id, e.g. AI-12")
        try:
            item_id = parse_item_ref(args[0])
        except ValueError as exc:
            raise FollowupProblem(str(exc)) from None
        return SetFollowupStatus(item_id, CLOSING[verb])
    raise FollowupProblem(f"unknown `followup {verb}`: use add, list, done, drop or reopen")

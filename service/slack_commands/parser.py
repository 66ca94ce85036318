"""`/incident ...` text into a command, or a usage error that says what was wrong and how to write it.

Pure on purpose: no I/O, so every spelling people type in chat is covered by fast unit tests,
and the handlers only ever see well-formed commands.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

import msgspec

from service.domain.incidents import Action, parse_human_id
from service.domain.severity import Severity
from service.slack_commands.followup_parsing import (
    AddFollowup,
    FollowupProblem,
    ListFollowups,
    SetFollowupStatus,
    parse_followup,
)
from service.slack_commands.silence_parsing import (
    ListSilences,
    Silence,
    SilenceProblem,
    StartWindow,
    Unsilence,
    parse_maintenance,
    parse_silence,
    parse_unsilence,
)

TITLE_MAX = 500  # incidents.title CHECK in migration 001
TEXT_MAX = 20_000  # same bound as the HTTP API's notes (service/incidents/views.py)


class Usage(msgspec.Struct, frozen=True):
    name: str
    syntax: str
    summary: str
    example: str


USAGES: tuple[Usage, ...] = (
    Usage("list", "list [P0..P3] [open|acked|all]", "incidents, newest first (default: open)", "list P1"),
    Usage("show", "show ID", "details, recent timeline and buttons", "show INC-42"),
    Usage("declare", "declare P0..P3 title…", "open a new incident", "declare P1 checkout errors above 5%"),
    Usage("ack", "ack ID", "acknowledge: you are on it", "ack 42"),
    Usage("mitigate", "mitigate ID", "impact is contained, cause not yet fixed", "mitigate 42"),
    Usage("resolve", "resolve ID [note…]", "close it, with an optional note", "resolve 42 rolled back v1.8"),
    Usage("reopen", "reopen ID", "it is back", "reopen 42"),
    Usage("escalate", "escalate ID", "page the next on-call level now", "escalate 42"),
    Usage("sev", "sev ID P0..P3", "change the severity", "sev 42 P0"),
    Usage("assign", "assign ID @user", "set the owner (`me` works too)", "assign 42 @alice"),
    Usage("note", "note ID text…", "add a note to the timeline", "note 42 cache flushed, errors dropping"),
    Usage("rca", "rca ID", "create the RCA document, or link the existing one", "rca 42"),
    Usage("oncall", "oncall [service]", "who is on call, per escalation level", "oncall checkout"),
    Usage(
        "silence",
        "silence MATCHERS for DURATION [comment…]",
        "mute matching alerts (amtool's matcher syntax)",
        'silence alertname=DiskFull service=~"pay.*" for 2h disk swap',
    ),
    Usage("silences", "silences", "the active and pending silences", "silences"),
    Usage("unsilence", "unsilence ID", "end a silence now", "unsilence 4f1c…"),
    Usage(
        "maintenance",
        "maintenance start DURATION [MATCHERS]",
        "a one-off maintenance window (no matchers: every alert)",
        "maintenance start 2h service=payments",
    ),
    Usage(
        "followup",
        "followup add ID [@owner] [YYYY-MM-DD] title… | list [ID] | done|drop|reopen AI-N",
        "action items: add, list, close (reminders go to the incident's thread when due)",
        "followup add INC-7 @bob 2026-12-15 Add an index on orders.created_at",
    ),
    Usage("help", "help", "this list", "help"),
)
USAGE_BY_NAME = {u.name: u for u in USAGES}

_ALIASES = {
    "acknowledge": "ack",
    "severity": "sev",
    "ls": "list",
    "comment": "note",
    "on-call": "oncall",
    "?": "help",
    "followups": "followup",
    "action": "followup",
}

_SCOPES = ("open", "acked", "all", "triggered", "mitigated", "resolved")


class UsageError(Exception):
    """The text cannot be run; `problem` says why and `usage` how to write it."""

    def __init__(self, problem: str, usage: Usage | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = usage


class Help(msgspec.Struct, frozen=True):
    pass


class ListIncidents(msgspec.Struct, frozen=True):
    severities: tuple[Severity, ...] = ()
    scope: str = "open"


class Show(msgspec.Struct, frozen=True):
    incident_id: int


class Declare(msgspec.Struct, frozen=True):
    severity: Severity
    title: str


class Transition(msgspec.Struct, frozen=True):
    action: Action
    incident_id: int
    note: str | None = None


class Escalate(msgspec.Struct, frozen=True):
    incident_id: int


class ChangeSeverity(msgspec.Struct, frozen=True):
    incident_id: int
    severity: Severity


class Assign(msgspec.Struct, frozen=True):
    """`assignee` None means the caller (`assign 42 me`); the handler knows who that is."""

    incident_id: int
    assignee: str | None


class AddNote(msgspec.Struct, frozen=True):
    incident_id: int
    text: str


class Rca(msgspec.Struct, frozen=True):
    incident_id: int


class Oncall(msgspec.Struct, frozen=True):
    service: str | None = None


Command = (
    Help
    | ListIncidents
    | Show
    | Declare
    | Transition
    | Escalate
    | ChangeSeverity
    | Assign
    | AddNote
    | Rca
    | Oncall
    | Silence
    | ListSilences
    | Unsilence
    | StartWindow
    | AddFollowup
    | ListFollowups
    | SetFollowupStatus
)

_SILENCING: dict[str, Callable[[str], Command]] = {
    "silence": parse_silence,
    "silences": lambda rest: ListSilences(),
    "unsilence": parse_unsilence,
    "maintenance": parse_maintenance,
}

_TRANSITIONS = {
    "ack": Action.ACKNOWLEDGE,
    "mitigate": Action.MITIGATE,
    "resolve": Action.RESOLVE,
    "reopen": Action.REOPEN,
}

# Slack escapes refs when "escape channels, users, and links" is on: <@U1|bob>, <#C1|ops>, <!here>
_SLACK_REF = re.compile(r"<([@#!]?)([^>|]+)(?:\|([^>]*))?>")


def plain_text(text: str) -> str:
    """Turn Slack's escaped markup back into what the person typed, for titles and notes we store."""

    def replace(match: re.Match[str]) -> str:
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil == "@":
            return f"@{label or target}"
        if sigil == "#":
            return f"#{label or target}"
        if sigil == "!":
            return f"@{(label or target).split('^')[0]}"
        return target if not label or label == target else f"{label} ({target})"

    text = _SLACK_REF.sub(replace, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_user(token: str) -> str:
    """`@bob` and `<@U123|bob>` become `@bob`; a bare `<@U123>` stays a mention Slack renders."""
    match = _SLACK_REF.fullmatch(token)
    if match and match.group(1) == "@":
        return f"@{match.group(3)}" if match.group(3) else f"<@{match.group(2)}>"
    name = token.removeprefix("@")
    return f"@{name}" if name else ""


# Commands with a grammar of their own, parsed by their modules.
_DOORS: dict[str, Callable[[str], Command]] = {
    **_SILENCING,
    "followup": lambda rest: parse_followup(rest, read_user=parse_user, read_text=plain_text),
}


def _usage(name: str) -> Usage:
    return USAGE_BY_NAME[name]


def _incident_id(name: str, token: str | None) -> int:
    if token is None:
        raise UsageError(f"`{name}` needs an incident id", _usage(name))
    try:
        return parse_human_id(token)
    except ValueError:
        raise UsageError(f"`{token}` is not an incident id (write 42, #42 or INC-42)", _usage(name)) from None


def _severity(name: str, token: str | None) -> Severity:
    if token is None:
        raise UsageError(f"`{name}` needs a severity (P0, P1, P2 or P3)", _usage(name))
    try:
        return Severity.parse(token)
    except ValueError:
        raise UsageError(f"`{token}` is not a severity (use P0, P1, P2 or P3)", _usage(name)) from None


def _no_more(name: str, extra: list[str]) -> None:
    if extra:
        raise UsageError(f"`{name}` does not take `{' '.join(extra)}`", _usage(name))


def _free_text(name: str, raw: str | None, what: str, limit: int) -> str:
    text = plain_text(raw or "").strip()
    if not text:
        raise UsageError(f"`{name}` needs {what}", _usage(name))
    if len(text) > limit:
        raise UsageError(f"{what} is {len(text)} characters; the limit is {limit}", _usage(name))
    return text


def _list(args: list[str]) -> ListIncidents:
    severities: list[Severity] = []
    scope: str | None = None
    for token in args:
        word = token.lower()
        if word in _SCOPES:
            if scope is not None and scope != word:
                raise UsageError(f"pick one status filter, not `{scope}` and `{word}`", _usage("list"))
            scope = word
            continue
        try:
            severity = Severity.parse(token)
        except ValueError:
            raise UsageError(
                f"`{token}` is neither a severity (P0..P3) nor a status filter (open, acked, all)",
                _usage("list"),
            ) from None
        if severity not in severities:
            severities.append(severity)
    return ListIncidents(severities=tuple(sorted(severities)), scope=scope or "open")


def command_names() -> list[str]:
    return [u.name for u in USAGES]


def parse(text: str) -> Command:
    """Parse the text after the slash command; raises UsageError with the matching usage line."""
    words = text.strip().split(None, 1)
    if not words:
        return Help()
    head = words[0].lower()
    name = _ALIASES.get(head, head)
    rest = words[1] if len(words) > 1 else ""
    args = rest.split()

    if name == "help":
        return Help()
    if name == "list":
        return _list(args)
    if name in _DOORS:
        try:
            return _DOORS[name](rest)
        except (SilenceProblem, FollowupProblem) as exc:
            raise UsageError(str(exc), _usage(name)) from None
    if name == "oncall":
        _no_more(name, args[1:])
        return Oncall(plain_text(args[0]).lstrip("#") if args else None)
    if name == "declare":
        pieces = rest.split(None, 1)
        severity = _severity(name, pieces[0] if pieces else None)
        title = _free_text(name, pieces[1] if len(pieces) > 1 else None, "a title", TITLE_MAX)
        return Declare(severity=severity, title=title)
    if name not in USAGE_BY_NAME:
        close = difflib.get_close_matches(head, [*command_names(), *_ALIASES], n=1)
        hint = f" Did you mean `{_ALIASES.get(close[0], close[0])}`?" if close else ""
        raise UsageError(f"unknown command `{head}`.{hint}")

    pieces = rest.split(None, 1)
    incident_id = _incident_id(name, pieces[0] if pieces else None)
    tail = pieces[1] if len(pieces) > 1 else None
    tail_args = tail.split() if tail else []

    if name == "show":
        _no_more(name, tail_args)
        return Show(incident_id)
    if name in _TRANSITIONS:
        if name != "resolve":
            _no_more(name, tail_args)
            return Transition(_TRANSITIONS[name], incident_id)
        note = _free_text(name, tail, "a note", TEXT_MAX) if tail_args else None
        return Transition(Action.RESOLVE, incident_id, note)
    if name == "escalate":
        _no_more(name, tail_args)
        return Escalate(incident_id)
    if name == "rca":
        _no_more(name, tail_args)
        return Rca(incident_id)
    if name == "sev":
        severity = _severity(name, tail_args[0] if tail_args else None)
        _no_more(name, tail_args[1:])
        return ChangeSeverity(incident_id, severity)
    if name == "assign":
        if not tail_args:
            raise UsageError("`assign` needs a person: @user, or `me`", _usage(name))
        _no_more(name, tail_args[1:])
        if tail_args[0].lower() == "me":
            return Assign(incident_id, None)
        who = parse_user(tail_args[0])
        if not who:
            raise UsageError("`assign` needs a person: @user, or `me`", _usage(name))
        return Assign(incident_id, who)
    if name == "note":
        return AddNote(incident_id, _free_text(name, tail, "the note's text", TEXT_MAX))
    raise AssertionError(f"usage table and parser disagree about {name!r}")  # pragma: no cover

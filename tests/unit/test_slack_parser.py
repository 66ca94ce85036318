"""What people type after /incident, parsed without any I/O."""

from __future__ import annotations

import pytest

from service.domain.incidents import Action
from service.domain.severity import Severity
from service.slack_commands import parser
from service.slack_commands.parser import (
    AddNote,
    Assign,
    ChangeSeverity,
    Declare,
    Escalate,
    Help,
    ListIncidents,
    Oncall,
    Rca,
    Show,
    Transition,
    UsageError,
    parse,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("HELP", Help()),
        ("?", Help()),
        ("list", ListIncidents((), "open")),
        ("ls p1 P0 all", ListIncidents((Severity.P0, Severity.P1), "all")),
        ("list acked", ListIncidents((), "acked")),
        ("show 42", Show(42)),
        ("show INC-42", Show(42)),
        ("show #42", Show(42)),
        ("show inc-42", Show(42)),
        ("declare p1 checkout  errors above 5%", Declare(Severity.P1, "checkout  errors above 5%")),
        ("declare sev2 a &amp; b", Declare(Severity.P2, "a & b")),
        ("ack 7", Transition(Action.ACKNOWLEDGE, 7)),
        ("acknowledge INC-7", Transition(Action.ACKNOWLEDGE, 7)),
        ("mitigate 7", Transition(Action.MITIGATE, 7)),
        ("resolve 7", Transition(Action.RESOLVE, 7)),
        ("resolve 7 rolled back <@U1|bob>", Transition(Action.RESOLVE, 7, "rolled back @bob")),
        ("reopen 7", Transition(Action.REOPEN, 7)),
        ("escalate 7", Escalate(7)),
        ("sev 7 p0", ChangeSeverity(7, Severity.P0)),
        ("severity 7 3", ChangeSeverity(7, Severity.P3)),
        ("assign 7 @bob", Assign(7, "@bob")),
        ("assign 7 bob", Assign(7, "@bob")),
        ("assign 7 <@U0BOB|bob>", Assign(7, "@bob")),
        ("assign 7 <@U0BOB>", Assign(7, "<@U0BOB>")),
        ("assign 7 ME", Assign(7, None)),
        ("note 7 cache flushed", AddNote(7, "cache flushed")),
        (
            "comment 7 see <https://grafana.example/d/1|dashboard>",
            AddNote(7, "see dashboard (https://grafana.example/d/1)"),
        ),
        ("rca 7", Rca(7)),
        ("oncall", Oncall(None)),
        ("on-call checkout", Oncall("checkout")),
        ("oncall <#C1|payments>", Oncall("payments")),
    ],
)
def test_parses(text: str, expected: parser.Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "problem", "usage"),
    [
        ("frobnicate", "unknown command `frobnicate`.", None),
        ("shwo 1", "Did you mean `show`?", None),
        ("show", "`show` needs an incident id", "show"),
        ("show 0", "`0` is not an incident id", "show"),
        ("show INC-", "`INC-` is not an incident id", "show"),
        ("show 1 2", "`show` does not take `2`", "show"),
        ("sev 1 P4", "`P4` is not a severity", "sev"),
        ("sev 1 P1 P2", "`sev` does not take `P2`", "sev"),
        ("declare", "`declare` needs a severity", "declare"),
        ("declare urgent thing", "`urgent` is not a severity", "declare"),
        ("declare P1 " + "x" * 501, "the limit is 500", "declare"),
        ("assign 1 @a @b", "does not take `@b`", "assign"),
        ("assign 1 @", "`assign` needs a person", "assign"),
        ("note 1    ", "`note` needs the note's text", "note"),
        ("oncall a b", "`oncall` does not take `b`", "oncall"),
        ("list P1 P9", "`P9` is neither", "list"),
    ],
)
def test_refuses_with_the_right_usage(text: str, problem: str, usage: str | None) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert problem in caught.value.problem
    assert (caught.value.usage.name if caught.value.usage else None) == usage


def test_every_command_has_a_parsable_example() -> None:
    for usage in parser.USAGES:
        parse(usage.example)

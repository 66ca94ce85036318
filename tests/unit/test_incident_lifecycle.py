from __future__ import annotations

import pytest

from service.domain.incidents import (
    Action,
    InvalidTransition,
    Status,
    allowed_actions,
    format_human_id,
    next_status,
    parse_human_id,
    severity_change_kind,
)
from service.domain.severity import Severity


@pytest.mark.parametrize(
    ("action", "start", "end"),
    [
        (Action.ACKNOWLEDGE, Status.TRIGGERED, Status.ACKNOWLEDGED),
        (Action.UNACKNOWLEDGE, Status.ACKNOWLEDGED, Status.TRIGGERED),
        (Action.MITIGATE, Status.TRIGGERED, Status.MITIGATED),
        (Action.MITIGATE, Status.ACKNOWLEDGED, Status.MITIGATED),
        (Action.RESOLVE, Status.TRIGGERED, Status.RESOLVED),
        (Action.RESOLVE, Status.ACKNOWLEDGED, Status.RESOLVED),
        (Action.RESOLVE, Status.MITIGATED, Status.RESOLVED),
        (Action.REOPEN, Status.RESOLVED, Status.TRIGGERED),
        (Action.REOPEN, Status.MITIGATED, Status.TRIGGERED),
    ],
)
def test_valid_transitions(action: Action, start: Status, end: Status) -> None:
    assert next_status(action, start) is end


@pytest.mark.parametrize(
    ("action", "start"),
    [
        (Action.ACKNOWLEDGE, Status.ACKNOWLEDGED),
        (Action.ACKNOWLEDGE, Status.MITIGATED),
        (Action.ACKNOWLEDGE, Status.RESOLVED),
        (Action.UNACKNOWLEDGE, Status.TRIGGERED),
        (Action.MITIGATE, Status.MITIGATED),
        (Action.MITIGATE, Status.RESOLVED),
        (Action.RESOLVE, Status.RESOLVED),
        (Action.REOPEN, Status.TRIGGERED),
        (Action.REOPEN, Status.ACKNOWLEDGED),
    ],
)
def test_invalid_transitions_name_the_state(action: Action, start: Status) -> None:
    with pytest.raises(InvalidTransition) as caught:
        next_status(action, start)
    assert start.value in str(caught.value)
    assert action.value in str(caught.value)


def test_allowed_actions_match_the_transition_table() -> None:
    for status in Status:
        for action in Action:
            allowed = action in allowed_actions(status)
            try:
                next_status(action, status)
                works = True
            except InvalidTransition:
                works = False
            assert allowed == works, (status, action)


@pytest.mark.parametrize("text", ["42", "#42", "INC-42", "inc-42", " 42 "])
def test_human_ids_people_type(text: str) -> None:
    assert parse_human_id(text) == 42


@pytest.mark.parametrize("text", ["", "INC-", "abc", "-3", "0", "INC-4x"])
def test_bad_human_ids(text: str) -> None:
    with pytest.raises(ValueError, match="not an incident id"):
        parse_human_id(text)


def test_human_id_round_trip() -> None:
    assert parse_human_id(format_human_id(1234)) == 1234


@pytest.mark.parametrize(
    ("text", "expected"), [("P0", Severity.P0), ("p2", Severity.P2), ("sev3", Severity.P3)]
)
def test_severity_parse(text: str, expected: Severity) -> None:
    assert Severity.parse(text) is expected


def test_severity_parse_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="P7"):
        Severity.parse("P7")


def test_severity_change_kind() -> None:
    assert severity_change_kind(Severity.P2, Severity.P1) == "severity_raised"
    assert severity_change_kind(Severity.P1, Severity.P3) == "severity_lowered"
    assert severity_change_kind(Severity.P1, Severity.P1) is None

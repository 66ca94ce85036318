"""Matchers, silences and inhibition with Alertmanager's semantics, under a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.alerting.pushed import fingerprint
from service.domain.inhibition import InhibitRule, SourceAlert, inhibited_by
from service.domain.mute_verdicts import MuteSnapshot
from service.domain.silence_matchers import MatcherError, Op, parse_matchers
from service.domain.silences import Silence, SilenceState, check_new, silenced_by

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('alertname="DiskFull"', {"alertname": "DiskFull"}, True),
        ("alertname=DiskFull", {"alertname": "DiskFullSoon"}, False),
        ('service=~"pay.*"', {"service": "payments"}, True),
        ('service=~"pay"', {"service": "payments"}, False),  # anchored: the whole value
        ('service=~"ay"', {"service": "payments"}, False),
        ('service!~"pay.*"', {"service": "search"}, True),
        ('team!="db"', {}, True),  # a missing label is the empty string
        ('team=""', {}, True),
        ('team=~".+"', {}, False),
        ('{a="1", b!="2"}', {"a": "1", "b": "3"}, True),
        ('a="x\\"y"', {"a": 'x"y'}, True),
        ('a=~"x|y"', {"a": "y"}, True),
    ],
)
def test_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    assert all(m.matches(labels) for m in parse_matchers(text)) is expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('a=~"("', "invalid regex"),
        ("9a=b", "not a valid label name"),
        ("a<>b", "expected name=value"),
        ("", "no matchers"),
        ('{a="b"', "missing closing"),
    ],
)
def test_bad_matchers_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(MatcherError, match=problem):
        parse_matchers(text)


def _silence(start: timedelta, end: timedelta, text: str = 'service="pay"') -> Silence:
    return Silence(
        id="s1",
        matchers=tuple(parse_matchers(text)),
        starts_at=NOW + start,
        ends_at=NOW + end,
        created_by="alice",
        comment="",
        updated_at=NOW,
    )


def test_silence_states_and_muting() -> None:
    pending = _silence(timedelta(minutes=5), timedelta(hours=1))
    active = _silence(timedelta(minutes=-5), timedelta(hours=1))
    expired = _silence(timedelta(hours=-2), timedelta(hours=-1))
    assert pending.state(NOW) is SilenceState.PENDING
    assert active.state(NOW) is SilenceState.ACTIVE
    assert expired.state(NOW) is SilenceState.EXPIRED
    assert active.state(NOW + timedelta(hours=1)) is SilenceState.EXPIRED  # endsAt itself is the end
    labels = {"service": "pay"}
    assert silenced_by([pending, active, expired], labels, NOW) == ["s1"]
    assert silenced_by([pending], labels, NOW + timedelta(minutes=5)) == ["s1"]
    assert silenced_by([active], {"service": "search"}, NOW) == []


def test_new_silence_checks() -> None:
    matchers = parse_matchers("a=b")
    assert check_new(matchers, NOW, NOW - timedelta(minutes=1), NOW) == "endsAt: must be after startsAt"
    past = check_new(matchers, NOW - timedelta(hours=2), NOW - timedelta(hours=1), NOW)
    assert past == "endsAt: is in the past"
    assert "silence everything" in str(check_new(parse_matchers('a=~".*"'), NOW, NOW + timedelta(1), NOW))
    assert check_new(matchers, NOW, NOW + timedelta(hours=1), NOW) is None


SOURCE_DOWN = InhibitRule(
    name="source-down",
    source_matchers=tuple(parse_matchers('alertname=~"SourceDown_.*"')),
    target_matchers=tuple(parse_matchers('alertname!~"SourceDown_.*"')),
    equal=("source",),
)
CRITICAL = InhibitRule(
    name="critical-over-warning",
    source_matchers=tuple(parse_matchers('severity="critical"')),
    target_matchers=tuple(parse_matchers('severity="warning", service=~".+"')),
    equal=("service",),
)


def test_inhibition_needs_equal_labels_and_never_inhibits_itself() -> None:
    down = SourceAlert("f1", {"alertname": "SourceDown_scrape_app", "source": "app"})
    critical = SourceAlert("f2", {"alertname": "ErrorRate", "severity": "critical", "service": "pay"})
    rules = [SOURCE_DOWN, CRITICAL]
    assert inhibited_by(rules, [down], "x", {"alertname": "Latency", "source": "app"}) == ["f1"]
    assert inhibited_by(rules, [down], "x", {"alertname": "Latency", "source": "db"}) == []
    assert inhibited_by(rules, [down], "f1", down.labels) == []
    warning = {"alertname": "Latency", "severity": "warning", "service": "pay"}
    assert inhibited_by(rules, [critical], "x", warning) == ["f2"]
    assert inhibited_by(rules, [critical], "x", {**warning, "service": "search"}) == []
    assert inhibited_by(rules, [critical], "x", {**warning, "severity": "critical"}) == []


def test_snapshot_verdict_combines_everything() -> None:
    active = _silence(timedelta(minutes=-5), timedelta(hours=1))
    snapshot = MuteSnapshot(
        at=NOW,
        silences=(active,),
        inhibit_rules=(CRITICAL,),
        sources=(SourceAlert("f2", {"severity": "critical", "service": "pay"}),),
    )
    verdict = snapshot.verdict({"service": "pay", "severity": "warning"}, "x")
    assert verdict.muted
    assert verdict.silenced_by == ("s1",)
    assert verdict.inhibited_by == ("f2",)
    assert not snapshot.verdict({"service": "search"}).muted


def test_fingerprint_is_alertmanagers() -> None:
    # The empty set is FNV-1a's offset basis; the other is what Alertmanager 0.25 answered for it.
    assert fingerprint({}) == "cbf29ce484222325"
    assert fingerprint({"service": "pay", "alertname": "foo"}) == "743f35a4a8e53f09"
    assert Op("=~") is Op.REGEX

"""The silence index answers exactly what trying every silence answers (Alertmanager's semantics), and the
SQL prefilter for inhibiting alerts never drops a source: properties over generated silences and alerts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.inhibition import InhibitRule
from service.domain.mute_verdicts import MuteSnapshot
from service.domain.silence_index import SilenceIndex, literal_values
from service.domain.silence_matchers import Matcher, Op, matcher, parse_matchers
from service.domain.silences import Silence, silenced_by
from service.silences.source_prefilter import literal_prefix, source_prefilter

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
NAMES = ["alertname", "service", "team", "env"]
VALUES = ["", "a", "b", "ab", "pay", "payments", "x|y", "a.b"]
PATTERNS = ["a", "a|b", "pay.*", ".*", ".+", "a|", "(a|b)", "p[a-z]+", "ab?", "x\\|y", "a.b", "pay|payments"]

matchers = st.builds(
    matcher,
    st.sampled_from(NAMES),
    st.sampled_from(list(Op)),
    st.sampled_from(VALUES + PATTERNS),
)
windows = st.sampled_from(
    [
        (timedelta(minutes=-5), timedelta(hours=1)),
        (timedelta(minutes=5), timedelta(hours=1)),
        (-timedelta(2), -timedelta(1)),
    ]
)


def _silence(index: int, found: list[Matcher], window: tuple[timedelta, timedelta]) -> Silence:
    return Silence(
        id=f"s{index:03d}",
        matchers=tuple(found),
        starts_at=NOW + window[0],
        ends_at=NOW + window[1],
        created_by="prop",
        comment="",
        updated_at=NOW,
    )


silences = st.lists(st.tuples(st.lists(matchers, min_size=1, max_size=3), windows), max_size=25).map(
    lambda items: [_silence(i, m, w) for i, (m, w) in enumerate(items)]
)
alerts = st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), max_size=4)


@settings(max_examples=300, deadline=None)
@given(silences, st.lists(alerts, min_size=1, max_size=10))
def test_index_agrees_with_trying_every_silence(found: list[Silence], labels: list[dict[str, str]]) -> None:
    index = SilenceIndex(found)
    for item in labels:
        for at in (NOW, NOW + timedelta(minutes=10)):
            assert index.silenced_by(item, at) == silenced_by(found, item, at)


@settings(max_examples=100, deadline=None)
@given(silences, alerts)
def test_snapshot_reused_later_judges_at_its_new_instant(found: list[Silence], item: dict[str, str]) -> None:
    snapshot = MuteSnapshot(at=NOW, silences=tuple(found))
    later = snapshot.at_instant(NOW + timedelta(minutes=10))
    assert later.silence_index is snapshot.silence_index  # built once per load
    assert list(later.verdict(item).silenced_by) == silenced_by(found, item, NOW + timedelta(minutes=10))


def test_what_a_silence_is_filed_under() -> None:
    assert literal_values(matcher("a", "=", "x")) == ("x",)
    assert literal_values(matcher("a", "=", "")) is None  # matches alerts without `a`
    assert literal_values(matcher("a", "=~", "x|y|x")) == ("x", "y")
    assert literal_values(matcher("a", "=~", "x|")) is None  # matches the empty string
    assert literal_values(matcher("a", "=~", "x.*")) is None
    assert literal_values(matcher("a", "!=", "x")) is None
    index = SilenceIndex(
        [_silence(1, parse_matchers('team=~".+", env!="prod"'), (-timedelta(1), timedelta(1)))]
    )
    assert index.candidates({"env": "dev"}) == []  # no `team`: it cannot match
    assert len(index.candidates({"team": "core"})) == 1


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([*PATTERNS, "SourceDown_.*", "ab*c", "a{2}b", "abc+", "a?b", "(?i)abc", "\\d+"]),
    st.text("abcdpSourceDown_xy|", max_size=14),
)
def test_a_regex_prefix_is_a_prefix_of_every_full_match(pattern: str, value: str) -> None:
    if re.fullmatch(pattern, value, re.DOTALL):
        assert value.startswith(literal_prefix(pattern))


def test_source_prefilter_uses_what_it_can_and_gives_up_otherwise() -> None:
    rules = (
        InhibitRule(
            name="down",
            source_matchers=tuple(parse_matchers('alertname=~"SourceDown_.*"')),
            target_matchers=tuple(parse_matchers("a=b")),
        ),
        InhibitRule(
            name="critical",
            source_matchers=tuple(parse_matchers('severity="critical", team!="x"')),
            target_matchers=tuple(parse_matchers("a=b")),
        ),
    )
    where, params = source_prefilter(rules)
    assert where == " WHERE (labels ->> $1::text LIKE $2::text) OR (labels @> $3::jsonb)"
    assert params == ["alertname", "SourceDown\\_%", {"severity": "critical"}]
    loose = InhibitRule(
        name="loose",
        source_matchers=tuple(parse_matchers('team!="x"')),
        target_matchers=tuple(parse_matchers("a=b")),
    )
    assert source_prefilter((*rules, loose)) == ("", [])

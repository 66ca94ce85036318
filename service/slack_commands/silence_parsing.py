"""`/incident silence|silences|unsilence|maintenance …` text into commands: pure.

Matchers are amtool's syntax (`alertname=DiskFull service=~"pay.*"`). Slack may turn
quotes into curly ones and escapes `<`, `>`, `&`; both are undone before matching.
"""

from __future__ import annotations

import re
from datetime import timedelta

import msgspec

from service.domain.durations import parse_duration
from service.domain.silence_matchers import Matcher, MatcherError, parse_matchers

MAX_SILENCE = timedelta(days=30)
_FOR = re.compile(r"\s+for\s+(\S+)(?:\s+(.*))?$", re.DOTALL)
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


class SilenceProblem(ValueError):
    """What is wrong with the text, phrased for the person who typed it."""


class Silence(msgspec.Struct, frozen=True):
    matchers: tuple[Matcher, ...]
    duration: timedelta
    comment: str = ""


class ListSilences(msgspec.Struct, frozen=True):
    pass


class Unsilence(msgspec.Struct, frozen=True):
    silence_id: str


class StartWindow(msgspec.Struct, frozen=True):
    duration: timedelta
    matchers: tuple[Matcher, ...] = ()


def _clean(text: str) -> str:
    return text.translate(_QUOTES).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def _duration(text: str) -> timedelta:
    try:
        duration = parse_duration(text)
    except ValueError:
        raise SilenceProblem(f"`{text}` is not a duration (e.g. 30m, 2h, 1d)") from None
    if duration <= timedelta(0) or duration > MAX_SILENCE:
        raise SilenceProblem("the duration must be between 1 minute and 30 days")
    return duration


def _matchers(text: str) -> tuple[Matcher, ...]:
    try:
        return tuple(parse_matchers(text))
    except MatcherError as exc:
        raise SilenceProblem(f"matchers: {exc}") from None


def parse_silence(text: str) -> Silence:
    """`<matchers> for <duration> [comment…]`."""
    cleaned = _clean(text)
    found = _FOR.search(cleaned)
    if found is None:
        raise SilenceProblem("say how long: `… for 2h`")
    matchers = _matchers(cleaned[: found.start()])
    if all(m.matches({}) for m in matchers):
        raise SilenceProblem("these matchers would silence every alert; name at least one label value")
    return Silence(matchers, _duration(found.group(1)), (found.group(2) or "").strip()[:5000])


def parse_unsilence(text: str) -> Unsilence:
    words = text.split()
    if len(words) != 1:
        raise SilenceProblem("give the silence id (from `silences`)")
    return Unsilence(words[0])


def parse_maintenance(text: str) -> StartWindow:
    """`start <duration> [matchers…]`; no matchers means every alert."""
    words = _clean(text).split(None, 2)
    if len(words) < 2 or words[0].lower() != "start":
        raise SilenceProblem("write `maintenance start 2h service=payments`")
    matchers = _matchers(words[2]) if len(words) > 2 else ()
    return StartWindow(_duration(words[1]), matchers)

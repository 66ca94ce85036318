"""A fast parser for Prometheus text exposition 0.0.4 and OpenMetrics 1.0.

A big target is hundreds of thousands of lines every 15 seconds, and a Python
loop doing a dozen string operations per line manages only about half a million
lines a second. So the parser works in two tiers:

- Bulk: one compiled pattern tokenises every sample line of the common shape
  (`name{a="b",le="0.5"} 12 [1700000000000]`, no escapes, single spaces) in C,
  and the columns are converted with `map` (floats) and a label cache whose
  misses are parsed once per distinct label string (a target exposes the same
  series scrape after scrape, and label pairs such as `le="0.5"` repeat). If
  the number of lines it tokenised is not exactly the number of sample lines,
  or a value is not a number, the text goes to the second tier.
- Careful: line by line, accepting what the format allows beyond the common
  shape (escapes, blanks inside braces, OpenMetrics exemplars) and naming the
  line and the problem when something is wrong.

Strict and lenient exactly where Prometheus 2.x is (its text parser and scrape
loop): a malformed line fails the whole exposition, as it fails a Prometheus
scrape (half a scrape would make counters look like they vanished); an unknown
escape in a label value (`\\t`) is kept as written; a series given twice keeps
its first sample and the later ones are dropped and counted (`duplicates`), as
Prometheus drops "samples with different value but same timestamp"; OpenMetrics
`_created` samples are read as series of their own, as Prometheus 2.x ingests them.
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import compress, filterfalse, islice, repeat
from operator import itemgetter
from typing import NamedTuple, cast

from service.sources.exposition_careful import (
    LABEL_NAME,
    METRIC_NAME,
    ExpositionError,
    read_sample,
    strict_float_text,
)

__all__ = ["Exposition", "ExpositionError", "ExpositionParser", "Sample", "parse_exposition"]

# (metric name, labels, value, timestamp in seconds or None). Plain tuples: building a million
# small objects per scrape is where a parser's time goes. The labels dict is shared between samples
# and scrapes (it comes from the cache): treat it as read-only.
Sample = tuple[str, dict[str, str], float, float | None]

# The common line shape; the label text is checked when it is first seen (the label cache's miss).
_SAMPLE_LINE = re.compile(
    r"^(([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^\n]*)\})?) ([^ \n]+)(?: ([^ \n]+))?$",
    re.MULTILINE,
)
_FIELDS = 6  # in `_SAMPLE_LINE.split`: the text before a line, its series, name, labels, value, stamp
_NAME, _LABELS = itemgetter(0), itemgetter(1)
_EMPTY_LINE = re.compile(r"\n(?=\n)")
_TYPES = frozenset(
    {"counter", "gauge", "histogram", "summary", "untyped", "unknown", "gaugehistogram", "stateset", "info"}
)
_CACHE_LIMIT = 500_000


class Exposition(NamedTuple):
    samples: list[Sample]
    types: dict[str, str]  # family name -> declared type
    helps: dict[str, str]
    duplicates: int = 0  # later samples of a series already given, with another value: dropped
    duplicate: str | None = None  # the first such series, for the source's status


class _Pairs(dict[str, tuple[str, str]]):
    """`job="app` -> ("job", "app"): label pairs repeat across series, so each is split and checked once."""

    def __missing__(self, pair: str) -> tuple[str, str]:
        key, sep, value = pair.partition('="')
        if not sep or LABEL_NAME.fullmatch(key) is None:
            raise ValueError(f"bad label pair {pair!r}")
        self[pair] = found = (key, value)
        return found


class _LabelCache(dict[str | None, dict[str, str]]):
    """Label text -> labels, parsed on first sight: a target exposes the same series scrape after scrape.

    A miss is checked without a pattern: with no backslash, a valid key in every `key="value` part
    (see `_Pairs`) and exactly two quotes per pair, the text can only be `k="v",k2="v2"[,]`.
    `None` is a sample without braces, `""` one with empty braces: both are the empty label set.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pairs = _Pairs()
        self[None] = self[""] = {}

    def __missing__(self, text: str | None) -> dict[str, str]:
        if text is not None and text.endswith('"'):
            body = text[:-1]
        elif text is not None and text.endswith('",'):
            body = text[:-2]
        else:
            raise ValueError(f"labels need the careful parser: {(text or '')[:40]!r}")
        parts = body.split('",')
        labels = dict(map(self.pairs.__getitem__, parts))
        if len(labels) != len(parts) or text.count('"') != 2 * len(parts) or "\\" in text:
            raise ValueError(f"labels need the careful parser: {text[:40]!r}")
        self[text] = labels
        return labels

    def fill(self, texts: Iterable[str | None]) -> None:
        """Parse every label text not seen before in one go, with the loops in C.

        The new texts are joined with `,` and split once on `",` into `key="value` pairs (each text
        ends with `"`), and `islice` hands each text its own run of pairs. The checks are those of
        `__missing__`, summed over the batch: each sum can only match when every text matches.
        A text with a trailing comma is left to `__missing__`, one at a time.
        """
        new = cast("list[str]", list(dict.fromkeys(filterfalse(self.__contains__, texts))))  # None is cached
        missing = list(compress(new, map(str.endswith, new, repeat('"'))))
        joined = ",".join(missing)
        if not missing or "\\" in joined:
            return  # an escape sends the whole text to the careful tier anyway
        flat = joined[:-1].split('",')
        counts = list(map(str.count, missing, repeat('="')))
        if sum(counts) != len(flat) or joined.count('"') != 2 * len(flat):
            raise ValueError("labels need the careful parser")
        pairs = map(self.pairs.__getitem__, flat)
        labels = list(map(dict, map(islice, repeat(pairs), counts)))
        if sum(map(len, labels)) != len(flat):
            raise ValueError("a label is given twice")
        self.update(zip(missing, labels, strict=True))

    def trim(self, limit: int) -> None:
        if len(self) > limit or len(self.pairs) > limit:
            self.clear()
            self.pairs.clear()
            self[None] = self[""] = {}


class ExpositionParser:
    """Keeps the label cache between parses: use one parser per scrape target."""

    def __init__(self, cache_limit: int = _CACHE_LIMIT) -> None:
        self._cache = _LabelCache()
        self._cache_limit = cache_limit

    def parse(self, text: str, *, openmetrics: bool = False) -> Exposition:
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        self._cache.trim(self._cache_limit)
        types: dict[str, str] = {}
        helps: dict[str, str] = {}
        body, comments = _read_comments(text, types, helps, openmetrics)
        with _collector_paused():
            bulk = self._bulk(body, comments, openmetrics)
        if bulk is None:
            samples = self._by_line(body, openmetrics)
        elif bulk[1]:
            return Exposition(bulk[0], types, helps)
        else:
            samples = bulk[0]
        # A series is its name and its labels dict: equal label sets share one dict from the cache.
        keys = list(zip(map(_NAME, samples), map(id, map(_LABELS, samples)), strict=True))
        if len(set(keys)) == len(samples):
            return Exposition(samples, types, helps)
        return _first_wins(samples, keys, types, helps)

    def _bulk(self, body: str, comments: int, openmetrics: bool) -> tuple[list[Sample], bool] | None:
        """The samples and whether every series is given once, or None when a line needs the careful tier.

        `re.split` hands back one flat list of strings (the text between matches, then the five
        groups of each), so no tuple is built per line and the columns are slices of that list.
        """
        parts = _SAMPLE_LINE.split(body)
        count = len(parts) // _FIELDS
        if not _covers(body, count + comments):
            return None  # some line is not of the common shape
        if not count:
            return [], True
        series, names, texts = parts[1::_FIELDS], parts[2::_FIELDS], parts[3::_FIELDS]
        values, stamps = parts[4::_FIELDS], parts[5::_FIELDS]
        del parts  # big young lists make every collection the sample tuples trigger slower
        if not strict_float_text("".join(values) + "".join(filter(None, stamps))):
            return None  # e.g. `1_000`, which Python reads and Prometheus refuses
        # Distinct `name{labels}` texts are distinct series (`{}` and no braces are the same one).
        unique = "" not in texts and len(set(series)) == count
        del series
        try:
            if any(stamps):
                scale = 1.0 if openmetrics else 0.001
                times: list[float | None] | repeat[None] = [float(s) * scale if s else None for s in stamps]
                if not all(map(math.isfinite, filter(None, times))):
                    return None
            else:
                times = repeat(None)
            del stamps
            found = list(map(self._cache.get, texts))
            if None in found:  # label texts not seen before: parse them all at once
                self._cache.fill(texts)
                labels = list(map(self._cache.__getitem__, texts))
            else:
                labels = cast("list[dict[str, str]]", found)
            del texts, found
            return list(zip(names, labels, map(float, values), times, strict=False)), unique
        except ValueError:
            return None

    def _by_line(self, body: str, openmetrics: bool) -> list[Sample]:
        lines = body.split("\n")
        samples: list[Sample] = []
        cache = self._cache
        for number, line in enumerate(lines, 1):
            if not line or line[0] == "#" or line.isspace():
                continue
            try:
                name, labels, value, ts = read_sample(line, openmetrics)
            except ExpositionError as exc:
                raise ExpositionError(f"line {number}: {exc}") from None
            labels = cache.setdefault(_canonical(labels) if labels else "", labels)
            samples.append((name, labels, value, ts))
        return samples


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The bulk tier builds a dict and a tuple per sample, none of which can form a cycle; with the
    cyclic collector running, those allocations set off collections that walk every young list and
    the label cache again and again, a third of the parse. Another thread may be paused meanwhile:
    it then only collects later."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse_exposition(text: str, *, openmetrics: bool = False) -> Exposition:
    return ExpositionParser().parse(text, openmetrics=openmetrics)


def _canonical(labels: dict[str, str]) -> str:
    """A cache key for labels read by the careful tier; it cannot collide with a validated label string."""
    return "\\" + repr(sorted(labels.items()))


def _first_wins(
    samples: list[Sample], keys: list[tuple[str, int]], types: dict[str, str], helps: dict[str, str]
) -> Exposition:
    """Keep the first sample of each series. Prometheus counts a repeat only when its value differs
    (the same value again is no conflict); either way the first one is what it stores."""
    kept: list[Sample] = []
    first: dict[tuple[str, int], float] = {}
    duplicates = 0
    example: str | None = None
    for sample, key in zip(samples, keys, strict=True):
        if key not in first:
            first[key] = sample[2]
            kept.append(sample)
            continue
        value = first[key]
        if value != sample[2] and not (math.isnan(value) and math.isnan(sample[2])):
            duplicates += 1
            if example is None:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample[1].items()))
                example = f"{sample[0]}{{{labels}}}"
    return Exposition(kept, types, helps, duplicates, example)


def _covers(text: str, matched: int) -> bool:
    """Whether `matched` lines are every non-empty line of `text` (comments included in `matched`).

    Counting newlines is one fast pass; the slower count of empty lines is only needed when the
    first guess (no empty lines but a trailing one) is off.
    """
    if not text:
        return matched == 0
    lines = text.count("\n") + 1 - text.endswith("\n")
    if matched == lines:
        return True
    empty = len(_EMPTY_LINE.findall(text)) + text.startswith("\n")
    return matched == lines - empty


def _comment_lines(text: str) -> list[tuple[int, str]]:
    """(offset, line) of every line starting with `#`; `#` elsewhere (inside a label value) is rare."""
    found = []
    start = text.find("#")
    while start >= 0:
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        if start == 0 or text[start - 1] == "\n":
            found.append((start, text[start:end]))
            start = text.find("#", end)
        else:
            start = text.find("#", start + 1)
    return found


def _read_comments(
    text: str, types: dict[str, str], helps: dict[str, str], openmetrics: bool
) -> tuple[str, int]:
    """Record `# TYPE`/`# HELP`; returns the text up to OpenMetrics `# EOF` and its comment line count."""
    count = 0
    for start, line in _comment_lines(text):
        parts = line.split(None, 3)
        keyword = parts[1] if len(parts) > 1 else ""
        if openmetrics and keyword == "EOF" and len(parts) == 2:
            end = start + len(line)
            if text[end:].strip():
                raise ExpositionError(f"line {_line_of(text, end + 1)}: text after # EOF")
            return text[:start], count
        count += 1
        if keyword not in ("TYPE", "HELP"):
            continue
        number = _line_of(text, start)
        if len(parts) < 3 or METRIC_NAME.fullmatch(parts[2]) is None:
            raise ExpositionError(f"line {number}: # {keyword} needs a valid metric name")
        rest = parts[3] if len(parts) == 4 else ""
        if keyword == "TYPE":
            kind = rest.strip().lower()
            if kind not in _TYPES:
                raise ExpositionError(f"line {number}: unknown metric type {rest.strip()!r}")
            types[parts[2]] = kind
        else:
            helps[parts[2]] = _unescape_help(rest)
    if openmetrics:
        raise ExpositionError("OpenMetrics text does not end with # EOF (truncated?)")
    return text, count


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _unescape_help(text: str) -> str:
    """Only `\\\\` and `\\n`, as Prometheus' help replacer: other escapes stay as written."""
    if "\\" not in text:
        return text
    return re.sub(r"\\([\\n])", lambda m: "\n" if m.group(1) == "n" else "\\", text)

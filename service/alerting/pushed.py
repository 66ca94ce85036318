"""Alerts pushed to us (Prometheus' Alertmanager API, an Alertmanager webhook): checking, identity, grouping.

Pure: the ingest turns these into rows and incident changes. Identity is Alertmanager's
fingerprint (FNV-1a over the sorted label set), so the ids amtool shows and the ones a
re-send carries agree. Every alert of a batch is judged on its own: one bad alert is
named in the answer and the others are kept, as Alertmanager does.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from service.config.pushed_policy import DEFAULT_FALLBACKS, DEFAULT_GROUP_BY, DEFAULT_RESOLVE_TIMEOUT
from service.domain.label_severity import severity_from_labels
from service.domain.severity import Severity
from service.domain.silence_matchers import LABEL_NAME

RESOLVE_TIMEOUT = DEFAULT_RESOLVE_TIMEOUT  # the policy's resolve_timeout when a caller gives none
MAX_LABELS = 256
MAX_VALUE = 8_192
MAX_ANNOTATIONS_BYTES = 65_536
_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF


class Origin(enum.StrEnum):
    PROMETHEUS = "prometheus"
    ALERTMANAGER = "alertmanager"


class PostableAlert(msgspec.Struct, frozen=True, rename="camel"):
    labels: dict[str, str]
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = msgspec.field(default="", name="generatorURL")


class PushedAlert(msgspec.Struct, frozen=True, kw_only=True):
    """A checked alert with the times Alertmanager would give it; `ends_explicit` False means the sender
    left endsAt out and the alert lapses after RESOLVE_TIMEOUT without a re-send."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    ends_explicit: bool
    generator_url: str
    origin: Origin

    def firing(self, now: datetime) -> bool:
        return self.ends_at > now


class Rejected(msgspec.Struct, frozen=True):
    index: int
    problem: str  # starts with the field, e.g. "[3].labels: ..."


def fingerprint(labels: Mapping[str, str]) -> str:
    """Prometheus' LabelSet.Fingerprint: FNV-1a 64 of name, 0xff, value, 0xff for names in order."""
    return _fnv(tuple(sorted(labels.items())))


def _fnv(items: tuple[tuple[str, str], ...]) -> str:
    """One pass over the joined bytes (each part followed by 0xff, as Prometheus hashes them): the
    loop is the cost of a new label set, so it does nothing else."""
    data = b"".join(part.encode() + b"\xff" for pair in items for part in pair)
    value = _FNV_OFFSET
    prime = _FNV_PRIME
    for byte in data:
        value = ((value ^ byte) * prime) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


_KNOWN_LABELS: dict[tuple[tuple[str, str], ...], str] = {}
_KNOWN_LIMIT = 100_000  # label sets (a few hundred bytes each): forgotten all at once when full


def checked_fingerprint(field: str, labels: Mapping[str, str]) -> str | tuple[str]:
    """The fingerprint of a valid label set, or (problem,). Prometheus re-sends the same label sets every
    minute, so a set once found valid is remembered with its fingerprint: the re-send costs a sort and a
    dict look-up instead of a label check and a byte-by-byte hash."""
    if len(labels) > MAX_LABELS:
        return (f"{field}: {len(labels)} labels, at most {MAX_LABELS} allowed",)
    items = tuple(sorted(labels.items()))
    known = _KNOWN_LABELS.get(items)
    if known is not None:
        return known
    problem = _label_problem(field, labels)
    if problem:
        return (problem,)
    if len(_KNOWN_LABELS) >= _KNOWN_LIMIT:
        _KNOWN_LABELS.clear()
    made = _KNOWN_LABELS[items] = _fnv(items)
    return made


def _label_problem(field: str, labels: Mapping[str, str]) -> str | None:
    if len(labels) > MAX_LABELS:
        return f"{field}: {len(labels)} labels, at most {MAX_LABELS} allowed"
    for name, value in labels.items():
        if name not in _VALID_NAMES:
            if not LABEL_NAME.match(name):
                return f"{field}: invalid label name {name[:100]!r}"
            _remember_name(name)
        if len(value) > MAX_VALUE:
            return f"{field}.{name}: value longer than {MAX_VALUE} characters"
    return None


_VALID_NAMES: set[str] = set()


def _remember_name(name: str) -> None:
    """Label and annotation names are few and repeat in every alert: each is matched once."""
    if len(_VALID_NAMES) >= _KNOWN_LIMIT:
        _VALID_NAMES.clear()
    _VALID_NAMES.add(name)


def check(
    raw: Any, index: int, now: datetime, origin: Origin, resolve_timeout: timedelta = RESOLVE_TIMEOUT
) -> PushedAlert | Rejected:
    """One element of a posted batch, as Alertmanager's API validates it."""
    where = f"[{index}]"
    if not isinstance(raw, dict):
        return Rejected(index, f"{where}: expected an object")
    if "labels" not in raw:
        return Rejected(index, f"{where}.labels: required")
    try:
        alert = msgspec.convert(raw, PostableAlert, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        path = text.rsplit("at `$", 1)[1].rstrip("`") if "at `$" in text else ""
        return Rejected(index, f"{where}{path}: {text.split(' - at ', maxsplit=1)[0]}")
    return _checked(alert, index, now, origin, resolve_timeout)


def _checked(
    alert: PostableAlert, index: int, now: datetime, origin: Origin, resolve_timeout: timedelta
) -> PushedAlert | Rejected:
    where = f"[{index}]"
    if not alert.labels:
        return Rejected(index, f"{where}.labels: at least one label is required")
    found = checked_fingerprint(f"{where}.labels", alert.labels)
    if isinstance(found, tuple):
        return Rejected(index, found[0])
    if alert.annotations:
        problem = _annotation_problem(where, alert.annotations)
        if problem:
            return Rejected(index, problem)
    starts = _given(alert.starts_at) or now
    ends = _given(alert.ends_at)
    if ends is not None and ends < starts:
        return Rejected(index, f"{where}.endsAt: before startsAt (start time must be before end time)")
    return PushedAlert(
        fingerprint=found,
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=starts,
        ends_at=ends or (now + resolve_timeout),
        ends_explicit=ends is not None,
        generator_url=alert.generator_url[:2000],
        origin=origin,
    )


def _given(at: datetime | None) -> datetime | None:
    """Go clients (amtool) send an unset time as 0001-01-01T00:00:00Z; Alertmanager reads it as unset."""
    return None if at is None or at.year == 1 else at


def _annotation_problem(where: str, annotations: Mapping[str, str]) -> str | None:
    size = sum(len(k) + len(v) for k, v in annotations.items())
    if size > MAX_ANNOTATIONS_BYTES:
        return f"{where}.annotations: {size} characters, at most {MAX_ANNOTATIONS_BYTES} allowed"
    for name in annotations:
        if name not in _VALID_NAMES:
            if not LABEL_NAME.match(name):
                return f"{where}.annotations: invalid annotation name {name[:100]!r}"
            _remember_name(name)
    return None


def check_batch(
    raw: Sequence[Any], now: datetime, origin: Origin, resolve_timeout: timedelta = RESOLVE_TIMEOUT
) -> tuple[list[PushedAlert], list[Rejected]]:
    """Valid alerts (the last one wins when a batch repeats a label set) and what was refused."""
    return _kept((check(item, index, now, origin, resolve_timeout) for index, item in enumerate(raw)))


_TYPED = msgspec.json.Decoder(list[PostableAlert])


def check_body(
    body: bytes, now: datetime, origin: Origin, resolve_timeout: timedelta = RESOLVE_TIMEOUT
) -> tuple[list[PushedAlert], list[Rejected]] | None:
    """The fast road for a well-formed POST body: decoded straight into typed alerts (strings only,
    two levels deep, so nothing the generic input checks look for can hide in it but NUL, looked for
    here). None when it is not well formed: the caller takes the generic road, which names the field."""
    if b"\\u0000" in body:
        return None
    try:
        typed = _TYPED.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    return _kept(_checked(alert, index, now, origin, resolve_timeout) for index, alert in enumerate(typed))


def _kept(results: Iterable[PushedAlert | Rejected]) -> tuple[list[PushedAlert], list[Rejected]]:
    kept: dict[str, PushedAlert] = {}
    rejected: list[Rejected] = []
    for result in results:
        if isinstance(result, Rejected):
            rejected.append(result)
        else:
            kept[result.fingerprint] = result
    return [kept[k] for k in sorted(kept)], rejected


def pushed_severity(labels: Mapping[str, str]) -> Severity:
    """A `priority: P0..P3` label wins; otherwise the shared mapping of `severity` words."""
    priority = labels.get("priority", "").strip()
    if priority:
        try:
            return Severity.parse(priority)
        except ValueError:
            pass
    return severity_from_labels(labels)


def group_labels(
    labels: Mapping[str, str],
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    fallbacks: Mapping[str, str] = DEFAULT_FALLBACKS,
) -> dict[str, str]:
    """The labels that name the alert's incident; a missing one is taken from its fallback (by default
    `service` from `job`, as most Prometheus setups say which service through the scrape job)."""
    picked: dict[str, str] = {}
    for name in group_by:
        if name in labels:
            picked[name] = labels[name]
        elif fallbacks.get(name) in labels:
            other = fallbacks[name]
            picked[other] = labels[other]
    return picked


def pushed_group_key(
    labels: Mapping[str, str],
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    fallbacks: Mapping[str, str] = DEFAULT_FALLBACKS,
) -> str:
    picked = group_labels(labels, group_by, fallbacks)
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(picked.items()))
    key = "pushed:{" + inner + "}"
    return key if len(key) <= 400 else key[:380] + "~" + fingerprint(picked)


def title(alert: PushedAlert) -> str:
    summary = alert.annotations.get("summary", "").strip()
    if summary:
        return summary[:500]
    name = alert.labels.get("alertname", "alert")
    where = alert.labels.get("service") or alert.labels.get("job") or alert.labels.get("instance")
    return (f"{name} ({where})" if where else name)[:500]


def details(alert: PushedAlert, group_key: str, count: int) -> dict[str, Any]:
    """What the timeline, notifications and RCA say about a pushed alert: where it came from and
    where to look (`generator_url` opens the expression in the sender's UI)."""
    runbook = alert.annotations.get("runbook_url") or alert.annotations.get("runbook")
    return {
        "origin": alert.origin.value,
        "rule": alert.labels.get("alertname", ""),
        "fingerprint": alert.fingerprint,
        "group_key": group_key,
        "series_count": count,
        "labels": alert.labels,
        "generator_url": alert.generator_url or None,
        "starts_at": alert.starts_at.isoformat(),
        "summary": alert.annotations.get("summary", ""),
        "description": alert.annotations.get("description", ""),
        "runbook": runbook,
    }

"""rules/policy/pushed_alerts.yaml: how alerts pushed to us become incidents (grouping, resolving).

Read like every policy file: each problem as `file:line: field: message`, all at once,
for `incidentd check`; the service refuses to start on a broken file rather than group
alerts in a way nobody asked for. A missing file means the defaults below.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import msgspec

from service.config.fields import PolicyError
from service.config.yaml_lines import Problem, Report, decode, display_path, load_located
from service.domain.durations import parse_duration
from service.domain.silence_matchers import LABEL_NAME

PUSHED_FILE = Path("pushed_alerts.yaml")  # in the policy directory
DEFAULT_GROUP_BY = ("alertname", "service")
DEFAULT_FALLBACKS = {"service": "job"}
DEFAULT_RESOLVE_TIMEOUT = timedelta(minutes=5)
MAX_RESOLVE_TIMEOUT = timedelta(days=7)


class PushedPolicy(msgspec.Struct, frozen=True, kw_only=True):
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    group_by_fallbacks: dict[str, str] = msgspec.field(default_factory=lambda: dict(DEFAULT_FALLBACKS))
    resolve_timeout: timedelta = DEFAULT_RESOLVE_TIMEOUT
    auto_resolve: bool = True


class _File(msgspec.Struct, forbid_unknown_fields=True):
    group_by: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_GROUP_BY))
    group_by_fallbacks: dict[str, str] | None = None  # not given: the defaults for what group_by names
    resolve_timeout: str = "5m"
    auto_resolve: bool = True


def load_pushed_policy(path: Path, base: Path | None = None) -> tuple[PushedPolicy, list[Problem]]:
    if not path.exists():
        return PushedPolicy(), []
    doc, problems = load_located(path, shown_as=display_path(path, base))
    if doc is None:
        return PushedPolicy(), problems
    report = Report(doc)
    raw = decode(doc.data if doc.data is not None else {}, _File, (), report)
    if raw is None:
        return PushedPolicy(), [*problems, *report.problems]
    if not raw.group_by:
        report.error(("group_by",), "at least one label is required (all pushed alerts in one incident?)")
    for index, name in enumerate(raw.group_by):
        if not LABEL_NAME.match(name):
            report.error(("group_by", index), f"{name!r} is not a valid label name")
        if name in raw.group_by[:index]:
            report.error(("group_by", index), f"{name!r} is listed twice")
    fallbacks = raw.group_by_fallbacks
    if fallbacks is None:
        fallbacks = {k: v for k, v in DEFAULT_FALLBACKS.items() if k in raw.group_by}
    for name, fallback in fallbacks.items():
        if name not in raw.group_by:
            report.error(("group_by_fallbacks", name), f"{name!r} is not in group_by")
        if not LABEL_NAME.match(fallback):
            report.error(("group_by_fallbacks", name), f"{fallback!r} is not a valid label name")
    timeout = DEFAULT_RESOLVE_TIMEOUT
    try:
        timeout = parse_duration(raw.resolve_timeout)
        if not timedelta(seconds=1) <= timeout <= MAX_RESOLVE_TIMEOUT:
            report.error(("resolve_timeout",), "must be between 1s and 7d")
    except ValueError as exc:
        report.error(("resolve_timeout",), str(exc))
    problems.extend(report.problems)
    if problems:
        return PushedPolicy(), problems
    return (
        PushedPolicy(
            group_by=tuple(raw.group_by),
            group_by_fallbacks=fallbacks,
            resolve_timeout=timeout,
            auto_resolve=raw.auto_resolve,
        ),
        [],
    )


def require_pushed_policy(policy_dir: Path) -> PushedPolicy:
    policy, problems = load_pushed_policy(policy_dir / PUSHED_FILE)
    if problems:
        raise PolicyError(problems)
    return policy

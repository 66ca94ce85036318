"""Alertmanager v2 JSON shapes (its published OpenAPI spec), built from our rows: pure.

Field names, UUID silence ids and states are the spec's, so amtool and Grafana read
them unchanged. Our own rules' alerts are listed beside pushed ones: `amtool alert query`
shows everything that fires here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec

from service.domain.mute_verdicts import Verdict
from service.domain.silence_matchers import Matcher, Op, matches_all
from service.domain.silences import Silence

RECEIVER = "incidentd"


class AlertItem(msgspec.Struct, frozen=True, kw_only=True):
    """One alert as GET /api/v2/alerts needs it, whichever door it came through."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    updated_at: datetime
    ends_at: datetime
    generator_url: str
    group_key: str
    firing: bool
    processed: bool = True  # False: firing, held back when it started, not yet paged


def state_of(item: AlertItem, verdict: Verdict) -> str:
    if verdict.muted:
        return "suppressed"
    return "active" if item.processed else "unprocessed"


def alert_json(item: AlertItem, verdict: Verdict) -> dict[str, Any]:
    state = state_of(item, verdict)
    return {
        "labels": item.labels,
        "annotations": item.annotations,
        "receivers": [{"name": RECEIVER}],
        "fingerprint": item.fingerprint,
        "startsAt": _time(item.starts_at),
        "updatedAt": _time(item.updated_at),
        "endsAt": _time(item.ends_at),
        "generatorURL": item.generator_url,
        "status": {
            "state": state,
            "silencedBy": list(verdict.silenced_by),
            "inhibitedBy": list(verdict.inhibited_by),
            "mutedBy": list(verdict.windows),
        },
    }


def _time(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wanted(
    verdict: Verdict,
    *,
    processed: bool = True,
    active: bool = True,
    silenced: bool = True,
    inhibited: bool = True,
    unprocessed: bool = True,
) -> bool:
    """The spec's filters, as Alertmanager applies them: `active=false` drops active alerts,
    `unprocessed=false` unprocessed ones, `silenced=false` silenced ones (silences and maintenance
    windows), `inhibited=false` inhibited ones."""
    if not verdict.muted and processed and not active:
        return False
    if not verdict.muted and not processed and not unprocessed:
        return False
    if (verdict.silenced_by or verdict.windows) and not silenced:
        return False
    return not (verdict.inhibited_by and not inhibited)


def groups_json(
    items: Sequence[tuple[AlertItem, Verdict]], group_labels: Mapping[str, dict[str, str]]
) -> list[dict[str, Any]]:
    by_key: dict[str, list[tuple[AlertItem, Verdict]]] = {}
    for item, verdict in items:
        by_key.setdefault(item.group_key, []).append((item, verdict))
    return [
        {
            "labels": group_labels.get(key, {}),
            "routeLabels": {},
            "receiver": {"name": RECEIVER},
            "alerts": [alert_json(i, v) for i, v in members],
        }
        for key, members in sorted(by_key.items())
    ]


def silence_json(silence: Silence, now: datetime) -> dict[str, Any]:
    return {
        "id": silence.id,
        "status": {"state": silence.state(now).value},
        "updatedAt": _time(silence.updated_at),
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
            for m in silence.matchers
        ],
        "startsAt": _time(silence.starts_at),
        "endsAt": _time(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
    }


def silence_selected(silence: Silence, filters: Sequence[Matcher]) -> bool:
    """Alertmanager's silence filter: the filters must match the labels the silence's equality
    matchers spell out."""
    if not filters:
        return True
    spelled = {m.name: m.value for m in silence.matchers if m.op is Op.EQUAL}
    return matches_all(filters, spelled)


def status_json(started: datetime, original: str) -> dict[str, Any]:
    return {
        "cluster": {"name": "incidentd", "status": "disabled", "peers": []},
        "versionInfo": {
            "version": "0.25.0",
            "revision": "incidentd",
            "branch": "incidentd",
            "buildUser": "incidentd",
            "buildDate": "",
            "goVersion": "none (incidentd, Python)",
        },
        "config": {"original": original},
        "uptime": _time(started),
    }

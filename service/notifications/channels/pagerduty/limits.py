"""PagerDuty refuses an event larger than 512 KB (Events API v2), and a refused event is a missed page.

So an event that would be larger is cut to fit, visibly: `custom_details` keeps its
single fields (long values shortened) and its nested maps (labels) keep as many
entries as fit, in order; a note in the details says what was left out and where the rest is
(the incident's link, which every event carries). Summary, source, severity and
links are never touched: they are what the person paged reads first.
"""

from __future__ import annotations

import json
from typing import Any

MAX_EVENT_BYTES = 512 * 1024
_HEADROOM = 2048  # the note, and the envelope the SDK adds (routing key, action, client fields)
_VALUE_MAX = 1000  # characters kept of a single long value once an event must be cut
NOTE_KEY = "incidentd_note"


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _VALUE_MAX:
        return value[: _VALUE_MAX - 1] + "…"
    return value


def fit_event(event: dict[str, Any], limit: int = MAX_EVENT_BYTES) -> dict[str, Any]:
    """The event itself when it fits in `limit` bytes of JSON; otherwise a copy whose details fit."""
    payload = event.get("payload") or {}
    details = payload.get("custom_details")
    if _size(event) <= limit or not isinstance(details, dict):
        return event
    budget = limit - _size({**event, "payload": {**payload, "custom_details": {}}}) - _HEADROOM
    kept: dict[str, Any] = {}
    used = 2
    omitted: dict[str, tuple[int, int]] = {}  # field -> (entries left out, entries it had)
    # Single values first (incident, runbook, breach): few and the most telling; maps share the rest.
    for key, value in details.items():
        if isinstance(value, dict):
            continue
        cost = _size(key) + _size(_shorten(value)) + 2
        if used + cost > budget:
            omitted[key] = (1, 1)
            continue
        kept[key] = _shorten(value)
        used += cost
    for key, value in details.items():
        if not isinstance(value, dict):
            continue
        inner: dict[str, Any] = {}
        used += _size(key) + 3
        for name, item in value.items():
            cost = _size(name) + _size(_shorten(item)) + 2
            if used + cost > budget:
                break
            inner[name] = _shorten(item)
            used += cost
        if len(inner) < len(value):
            omitted[key] = (len(value) - len(inner), len(value))
        kept[key] = inner
    kept = {key: kept[key] for key in details if key in kept}
    parts = [f"{key}: {left:,} of {total:,} left out" for key, (left, total) in omitted.items()]
    kept[NOTE_KEY] = (
        "details cut to fit PagerDuty's 512 KB event limit"
        + (f" ({'; '.join(parts)})" if parts else " (long values shortened)")
        + "; the incident in incidentd (see its link) has everything"
    )
    return {**event, "payload": {**payload, "custom_details": kept}}

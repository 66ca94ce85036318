"""An incident as every message states it: title, current state, who has it, where to look.

Plain text and plain data, computed once per change inside the change's transaction
and stored in the outbox row, so a retry sends what was true when it was queued.
Escaping happens in the builders for each medium (messages.py), never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.domain.incident_alerts import AlertReading, readings, worst
from service.domain.incidents import Incident, TimelineEvent, incident_page_url
from service.domain.links import is_url
from service.notifications.channels.slack.text import one_line

# Labels that name the thing that breached, best first (PagerDuty's `source`).
_SOURCE_LABELS = ("instance", "host", "hostname", "pod", "node", "database", "service")


def _reading_line(reading: AlertReading) -> str:
    details = reading.details
    summary = one_line(details.get("summary") or "")
    if reading.firing:
        if summary:
            return summary
        value, threshold = details.get("value_text"), details.get("threshold_text")
        level, comparison = details.get("level") or "", details.get("comparison") or ""
        if value and threshold:
            return f"{reading.rule} is {value} ({level}: {comparison} {threshold})"
        return reading.rule
    parts = [
        f"now {details['value_text']}" if details.get("value_text") else "",
        reading.peak_text and f"peak {reading.peak_text}",
    ]
    shown = ", ".join(p for p in parts if p)
    return f"{reading.rule} cleared" + (f" ({shown})" if shown else "")


def current_state(found: dict[str, AlertReading], description: str = "") -> str:
    """The worst alert now against the level it breaches, then any others firing; else what cleared."""
    ordered = sorted(found.values(), key=AlertReading.badness, reverse=True)
    firing = [r for r in ordered if r.firing]
    shown = firing or ordered
    if not shown:
        return one_line(description)[:300]
    return "; ".join(_reading_line(r) for r in shown)


def _holder(incident: Incident, events: Sequence[TimelineEvent]) -> str | None:
    """Who has it: the assignee, else whoever acknowledged it (unless that was withdrawn)."""
    if incident.assignee:
        return incident.assignee
    acker: str | None = None
    for event in events:
        if event.kind == "acknowledged":
            acker = event.actor.split(" (")[0]
        elif event.kind in {"unacknowledged", "reopened"}:
            acker = None
    return acker


def snapshot(incident: Incident, events: Sequence[TimelineEvent], public_url: str) -> dict[str, Any]:
    found = readings(events)
    top = worst(found)
    details = top.details if top is not None else {}
    series = details.get("series") if isinstance(details.get("series"), dict) else {}
    labels = {**dict(incident.labels), **{str(k): str(v) for k, v in (series or {}).items()}}
    runbook = details.get("runbook")
    state = current_state(found, incident.description)
    started = min((r.first_at for r in found.values()), default=incident.created_at)
    breach_since = [str(r.details["breach_since"]) for r in found.values() if r.details.get("breach_since")]
    return {
        "incident_id": incident.id,
        "human_id": incident.human_id,
        "title": incident.title,
        "severity": incident.severity.label,
        "status": incident.status.value,
        "assignee": incident.assignee,
        "holder": _holder(incident, events),
        "labels": dict(incident.labels),
        "state": state,
        "breach": state,
        "runbook": runbook if isinstance(runbook, str) and runbook.strip() else None,
        "runbook_url": runbook.strip() if isinstance(runbook, str) and is_url(runbook) else None,
        "url": incident_page_url(public_url, incident.id),
        "started_at": min(breach_since) if breach_since else started.isoformat(),
        "source": next((labels[k] for k in _SOURCE_LABELS if labels.get(k)), "incidentd"),
        "component": labels.get("component") or labels.get("job") or labels.get("service") or None,
        "group": labels.get("team") or details.get("group") or None,
        "class": details.get("rule") or labels.get("alertname") or None,
        "alerts": [
            {
                "rule": r.rule,
                "firing": r.firing,
                "level": r.level,
                "value": r.details.get("value_text") or r.details.get("value"),
                "threshold": r.details.get("threshold_text") or r.details.get("threshold"),
                "peak": r.peak_text or None,
            }
            for r in sorted(found.values(), key=AlertReading.badness, reverse=True)
        ],
    }

"""What a postmortem author needs first: milestones and their durations, who took part, which alerts
fired and how bad they got, and what the responders wrote when they mitigated and resolved.

Pure functions over the incident and its timeline (see rca.py for the rest of the facts). Durations
follow the usual review vocabulary: time to detect (breach began -> incident opened), and time to
acknowledge, mitigate and resolve, each counted from the incident opening, when the page went out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec

from service.domain.durations import format_duration
from service.domain.incident_alerts import readings
from service.domain.incidents import Incident, TimelineEvent

MACHINE_ACTORS = frozenset({"rules", "escalation", "system", "notifications"})
_SOURCE_NAMES = {"slack": "Slack", "api": "API", "pagerduty": "PagerDuty", "web": "web console"}
_ACTION_WORDS = {
    "declared": "declared the incident",
    "acknowledged": "acknowledged",
    "unacknowledged": "withdrew the acknowledgement",
    "mitigated": "mitigated",
    "resolved": "resolved",
    "reopened": "reopened",
    "severity_raised": "raised the severity",
    "severity_lowered": "lowered the severity",
    "assigned": "assigned it",
    "note": "added a note",
    "escalated": "escalated",
}


def _stamp(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _parse(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


class Milestone(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    at: str  # empty: not reached
    measure: str  # e.g. "time to detect", empty for the first milestone
    duration: str  # e.g. "20s", "—" when it cannot be measured


class Participant(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    via: str
    first_action: str
    at: str


class SlackThread(msgspec.Struct, frozen=True):
    """Where the incident was discussed: the channel, and its message's permalink when known."""

    channel: str
    url: str = ""


class InvolvedAlert(msgspec.Struct, frozen=True, kw_only=True):
    rule: str
    summary: str
    peak: str
    threshold: str
    level: str
    first_fired: str
    times_fired: int
    cleared: str  # empty while firing
    runbook: str


def _first(events: Sequence[TimelineEvent], kind: str) -> datetime | None:
    return next((e.at for e in events if e.kind == kind), None)


def breach_began(incident: Incident, events: Sequence[TimelineEvent]) -> datetime | None:
    starts = [_parse(r.details.get("breach_since")) for r in readings(events).values()]
    known = [s for s in starts if s is not None]
    return min(known) if known else None


def milestones(incident: Incident, events: Sequence[TimelineEvent]) -> tuple[Milestone, ...]:
    detected = incident.created_at
    began = breach_began(incident, events)

    def since(moment: datetime | None, start: datetime | None) -> str:
        return format_duration(moment - start) if moment and start and moment >= start else "—"

    steps = [
        ("Detected (incident opened)", detected, "time to detect", since(detected, began)),
        ("Acknowledged", _first(events, "acknowledged"), "time to acknowledge", ""),
        ("Mitigated", _first(events, "mitigated"), "time to mitigate", ""),
        ("Resolved", incident.resolved_at, "time to resolve", ""),
    ]
    found = [Milestone(name="Breach began", at=_stamp(began), measure="", duration="")] if began else []
    for name, at, measure, given in steps:
        found.append(
            Milestone(name=name, at=_stamp(at), measure=measure, duration=given or since(at, detected))
        )
    return tuple(found)


def participants(events: Sequence[TimelineEvent]) -> tuple[Participant, ...]:
    """Every person who acted, once, with the first thing they did."""
    seen: dict[str, Participant] = {}
    for event in events:
        if event.actor in MACHINE_ACTORS or event.source in MACHINE_ACTORS or event.actor in seen:
            continue
        if event.kind not in _ACTION_WORDS:
            continue
        seen[event.actor] = Participant(
            name=event.actor.split(" (")[0],
            via=_SOURCE_NAMES.get(event.source, event.source),
            first_action=_ACTION_WORDS[event.kind],
            at=_stamp(event.at),
        )
    return tuple(seen.values())


def involved_alerts(events: Sequence[TimelineEvent]) -> tuple[InvolvedAlert, ...]:
    found = readings(events).values()
    return tuple(
        InvolvedAlert(
            rule=r.rule,
            summary=str(r.details.get("summary") or ""),
            peak=r.peak_text,
            threshold=r.peak_threshold_text,
            level=r.peak_level,
            first_fired=_stamp(r.first_at),
            times_fired=r.times_fired,
            cleared="" if r.firing else _stamp(r.cleared_at),
            runbook=str(r.details.get("runbook") or ""),
        )
        for r in sorted(found, key=lambda r: r.first_at)
    )


def pagerduty_url(events: Sequence[TimelineEvent]) -> str:
    """The PagerDuty incident's page, when a PagerDuty webhook told us about it."""
    return next((str(e.data["pagerduty_url"]) for e in reversed(events) if e.data.get("pagerduty_url")), "")


def resolution_notes(events: Sequence[TimelineEvent]) -> tuple[str, ...]:
    """What responders wrote when they mitigated or resolved, and when the alerts cleared by themselves."""
    notes: list[str] = []
    for event in events:
        if event.kind not in {"mitigated", "resolved"}:
            continue
        who = event.actor.split(" (")[0]
        note = str(event.data.get("note") or "").strip()
        if note:
            notes.append(f"{event.kind.capitalize()} by {who}: {note}")
        elif event.actor == "rules":
            notes.append(
                f"{event.kind.capitalize()} automatically at {_stamp(event.at)}: every alert cleared"
            )
    return tuple(notes)


class AlertSentences:
    """True timeline words for alert events: `fired`, `fired again` only after it cleared, `now critical`."""

    def __init__(self) -> None:
        self._firing: dict[str, bool] = {}
        self._level: dict[str, str] = {}

    def say(self, event: TimelineEvent) -> str | None:
        rule = event.data.get("rule")
        if not isinstance(rule, str) or not rule:
            return None
        level = str(event.data.get("level") or "")
        was = self._firing.get(rule)
        if event.kind == "alert_cleared":
            self._firing[rule] = False
            return None
        if event.kind not in {"declared", "attached"}:
            return None
        self._firing[rule] = True
        previous, self._level[rule] = self._level.get(rule, ""), level
        shown = f" ({level})" if level else ""
        if was is None:
            return f"{rule} fired{shown}"
        if was is False:
            return f"{rule} fired again{shown}"
        return f"{rule} is now {level}" if level and level != previous else f"{rule} still firing{shown}"

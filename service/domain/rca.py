"""The facts an RCA is built from (which template it starts from is rca_templates.py).

The document layout follows the "RCA Template" of 002_b1ab8eb4e8f4fb2c.txt; milestones, participants
and the alerts involved are rca_review.py. How a document is split into machine-owned and human
parts, merged and diffed is in service/domain/rca_markdown.py.

Facts are plain text taken from the timeline; escaping them for Markdown is the template layer's job,
so no caller can forget it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from service.domain import event_payloads
from service.domain.action_items import ActionItem, ItemLine, item_line
from service.domain.charts import ChartSpec
from service.domain.durations import format_duration
from service.domain.event_kinds import EventKind
from service.domain.event_payloads import (
    Assigned,
    Attached,
    Declared,
    Note,
    Retitled,
    SeverityChanged,
    StatusChanged,
)
from service.domain.incidents import Incident, TimelineEvent
from service.domain.rca_chart import incident_chart
from service.domain.rca_review import (
    AlertSentences,
    InvolvedAlert,
    Milestone,
    Participant,
    SlackThread,
    involved_alerts,
    milestones,
    pagerduty_url,
    participants,
    resolution_notes,
)
from service.domain.rca_templates import COMPLETE_DUE, DRAFT_DUE

_TEXT_LIMIT = 500


# --- facts -----------------------------------------------------------------------------------------


class TimelineLine(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    date: str
    time: str
    kind: str
    actor: str
    source: str
    summary: str


class SeverityStep(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    date: str
    time: str
    severity: str
    change: str  # declared, raised, lowered
    previous: str
    actor: str
    source: str
    reason: str


class AlertValue(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    date: str
    time: str
    rule: str
    metric: str
    value: str
    threshold: str
    runbook: str


class TrailLine(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    date: str
    time: str
    channel: str
    kind: str
    actor: str
    summary: str


class RcaFacts(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a template may show. Strings are plain text; the template layer escapes them."""

    incident_id: int
    human_id: str
    title: str
    description: str
    severity: str
    initial_severity: str
    status: str
    service: str
    labels: dict[str, str]
    date: str
    started: str
    ended: str
    ongoing: bool
    duration: str
    draft_due: str
    complete_due: str
    timeline: tuple[TimelineLine, ...]
    severity_history: tuple[SeverityStep, ...]
    values: tuple[AlertValue, ...]
    trail: tuple[TrailLine, ...]
    chart: ChartSpec
    chart_url: str
    has_chart: bool
    generated_at: str
    milestones: tuple[Milestone, ...] = ()
    participants: tuple[Participant, ...] = ()
    alerts: tuple[InvolvedAlert, ...] = ()
    resolution_notes: tuple[str, ...] = ()
    incident_url: str = ""
    slack_threads: tuple[SlackThread, ...] = ()
    pagerduty_url: str = ""
    action_items: tuple[ItemLine, ...] = ()


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def stamp(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def _scalar(value: object) -> str:
    """Show str/number/bool event data; nested structures are not for a one-line timeline."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | str):
        text = str(value)
        return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"
    return ""


_ALERT_KEYS = ("rule", "metric", "value", "threshold", "runbook")
_KNOWN_KEYS = frozenset({"from", "to", "note", "reason", "text", "title", "severity", "labels", *_ALERT_KEYS})
_STATUS_WORDS: dict[str, str] = {
    EventKind.ACKNOWLEDGED: "acknowledged",
    EventKind.UNACKNOWLEDGED: "acknowledgement withdrawn",
    EventKind.MITIGATED: "mitigated",
    EventKind.RESOLVED: "resolved",
    EventKind.REOPENED: "reopened",
    EventKind.RETRIGGERED: "re-triggered: the alert fired again while mitigated",
}


def summarize_event(event: TimelineEvent, sentence: str | None = None) -> str:
    """One line for a timeline event, as the RCA and the console word it."""
    data = event.data
    kind = event.kind
    told = event_payloads.decode(kind, data)  # None: data that does not fit its kind, shown field by field
    if isinstance(told, Declared):
        text = f'declared "{_scalar(told.title)}" at {_scalar(told.severity)}'
        text += f": {sentence}" if sentence else ""
    elif isinstance(told, Attached):
        text = sentence or f"an alert fired ({_scalar(told.severity)})"
    elif isinstance(told, SeverityChanged):
        verb = "raised" if kind == EventKind.SEVERITY_RAISED else "lowered"
        text = f"severity {verb} {_scalar(told.from_)} → {_scalar(told.to)}"
        text += f": {_scalar(told.reason)}" if _scalar(told.reason) else ""
    elif kind in _STATUS_WORDS and (isinstance(told, StatusChanged) or kind == EventKind.RETRIGGERED):
        note = told.note if isinstance(told, StatusChanged) else None
        text = _STATUS_WORDS[kind] + (f": {_scalar(note)}" if _scalar(note) else "")
    elif isinstance(told, Assigned):
        text = f"assigned to {_scalar(told.to)}"
        text += f" (was {_scalar(told.from_)})" if _scalar(told.from_) else ""
    elif isinstance(told, Retitled):
        text = f'title changed to "{_scalar(told.to)}" (was "{_scalar(told.from_)}")'
    elif isinstance(told, Note):
        text = f"note: {_scalar(told.text)}"
    elif kind in _MACHINE_WORDS and all(_scalar(data.get(k)) for k in _MACHINE_NEEDS.get(kind, ())):
        text = _MACHINE_WORDS[kind](data)
    else:
        extras = [f"{k}={_scalar(v)}" for k, v in sorted(data.items()) if k not in _KNOWN_KEYS and _scalar(v)]
        text = kind.replace("_", " ") + (f" ({', '.join(extras[:6])})" if extras else "")
    named = ("value", "threshold") if sentence else ("value", "threshold", "rule")
    alert = [f"{k} {shown}" for k in named if (shown := _shown(data, k))]
    return text + (f" [{', '.join(alert)}]" if alert else "")


def _shown(data: dict[str, Any], key: str) -> str:
    """A rule's value or threshold as written in its unit (`4.2%`, `1.5s`) when the event carries it."""
    return _scalar(data.get(f"{key}_text")) or _scalar(data.get(key))


def _targets(data: dict[str, Any]) -> str:
    targets = data.get("targets")
    if not isinstance(targets, dict):
        return ""
    named = [str(t) for values in targets.values() if isinstance(values, list) for t in values]
    return f" ({', '.join(named)})" if named else ""


# What a machine event must carry to be worded; otherwise it is shown generically with its fields.
_MACHINE_NEEDS: dict[str, tuple[str, ...]] = {
    EventKind.ACTION_ITEM_ADDED: ("item", "title"),
    EventKind.ACTION_ITEM_UPDATED: ("item", "title"),
    EventKind.ACTION_ITEM_DUE: ("item", "title"),
    EventKind.ESCALATED: ("level",),
    EventKind.NOTIFICATION_SENT: ("channel", "kind", "target"),
    EventKind.NOTIFICATION_FAILED: ("channel", "kind", "target"),
}
_MACHINE_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    EventKind.ESCALATED: lambda d: (
        f"escalated to level {_scalar(d.get('level'))} {_scalar(d.get('level_name'))}"
        f" ({_scalar(d.get('reason')).replace('_', ' ')}){_targets(d)}"
    ),
    EventKind.ESCALATION_STOPPED: lambda d: (
        f"escalation stopped: {_scalar(d.get('reason')) or 'acknowledged'}"
    ),
    EventKind.ESCALATION_REARMED: lambda d: f"escalation re-armed: {_scalar(d.get('reason'))}",
    EventKind.ESCALATION_EXHAUSTED: lambda d: "escalation exhausted: every level was told",
    EventKind.ALERT_CLEARED: lambda d: f"alert cleared ({_scalar(d.get('series_count')) or 1} series)",
    EventKind.ALERT_LEVEL_CHANGED: lambda d: f"alert level changed to {_scalar(d.get('level'))}",
    EventKind.NOTIFICATION_SENT: lambda d: (
        f"{_scalar(d.get('channel'))} {_scalar(d.get('kind'))} sent to {_scalar(d.get('target'))}"
    ),
    EventKind.NOTIFICATION_FAILED: lambda d: (
        f"{_scalar(d.get('channel'))} {_scalar(d.get('kind'))} to {_scalar(d.get('target'))} FAILED:"
        f" {_scalar(d.get('error'))}"
    ),
    EventKind.RCA_REMINDER: lambda d: f"RCA reminder ({_scalar(d.get('stage'))} due {_scalar(d.get('due'))})",
    EventKind.ACTION_ITEM_ADDED: lambda d: (
        f'action item {_scalar(d.get("item"))} added: "{_scalar(d.get("title"))}"'
        f" (owner {_scalar(d.get('owner')) or 'nobody yet'}, due {_scalar(d.get('due'))})"
    ),
    EventKind.ACTION_ITEM_UPDATED: lambda d: (
        f'action item {_scalar(d.get("item"))} "{_scalar(d.get("title"))}" is {_scalar(d.get("status"))}'
        f" (changed: {_scalar(d.get('changed'))})"
    ),
    EventKind.ACTION_ITEM_DUE: lambda d: (
        f'action item {_scalar(d.get("item"))} "{_scalar(d.get("title"))}" is {_scalar(d.get("stage"))}'
        f" (due {_scalar(d.get('due'))}, owner {_scalar(d.get('owner')) or 'nobody'})"
    ),
}


def _when(moment: datetime) -> dict[str, Any]:
    utc = _utc(moment)
    return {"at": utc, "date": utc.strftime("%Y-%m-%d"), "time": utc.strftime("%H:%M:%S")}


def _alert_value(event: TimelineEvent) -> AlertValue:
    data = event.data
    return AlertValue(
        **_when(event.at),
        rule=_scalar(data.get("rule")),
        metric=_scalar(data.get("metric")),
        value=_shown(data, "value"),
        threshold=_shown(data, "threshold"),
        runbook=_scalar(data.get("runbook")),
    )


def _trail_channel(event: TimelineEvent) -> str | None:
    text = f"{event.kind} {event.source}".lower()
    if "pagerduty" in text:
        return "PagerDuty"
    if "slack" in text:
        return "Slack"
    if event.kind.startswith("notification_"):
        return _scalar(event.data.get("channel")) or _scalar(event.data.get("target")) or event.source
    return None


def _severity_history(incident: Incident, events: Sequence[TimelineEvent]) -> tuple[SeverityStep, ...]:
    changes = [e for e in events if e.kind in (EventKind.SEVERITY_RAISED, EventKind.SEVERITY_LOWERED)]
    declared = next((e for e in events if e.kind == EventKind.DECLARED), None)
    first = _scalar(changes[0].data.get("from")) if changes else incident.severity.label
    initial = (_scalar(declared.data.get("severity")) if declared else "") or first
    steps = [
        SeverityStep(
            **_when(incident.created_at),
            severity=initial,
            change=EventKind.DECLARED,
            previous="",
            actor=declared.actor if declared else incident.created_by,
            source=declared.source if declared else incident.source,
            reason="",
        )
    ]
    for event in changes:
        steps.append(
            SeverityStep(
                **_when(event.at),
                severity=_scalar(event.data.get("to")),
                change="raised" if event.kind == EventKind.SEVERITY_RAISED else "lowered",
                previous=_scalar(event.data.get("from")),
                actor=event.actor,
                source=event.source,
                reason=_scalar(event.data.get("reason")),
            )
        )
    return tuple(steps)


def _timeline(ordered: Sequence[TimelineEvent]) -> tuple[TimelineLine, ...]:
    sentences = AlertSentences()
    return tuple(
        TimelineLine(
            **_when(e.at),
            kind=e.kind,
            actor=e.actor,
            source=e.source,
            summary=summarize_event(e, sentences.say(e)),
        )
        for e in ordered
    )


def _is_repeat(event: TimelineEvent, previous: TimelineEvent | None) -> bool:
    """A severity raise carries the same reading as the `attached` event written with it."""
    return (
        previous is not None
        and event.kind == EventKind.SEVERITY_RAISED
        and previous.at == event.at
        and previous.data.get("rule") == event.data.get("rule")
    )


def build_facts(
    incident: Incident,
    events: Sequence[TimelineEvent],
    *,
    chart_url: str,
    now: datetime,
    incident_url: str = "",
    slack_threads: Sequence[SlackThread] = (),
    action_items: Sequence[ActionItem] = (),
    samples: Mapping[str, Sequence[tuple[datetime, float]]] | None = None,
) -> RcaFacts:
    ordered = sorted(events, key=lambda e: (_utc(e.at), e.id))
    end = incident.resolved_at
    elapsed = (end or now) - incident.created_at
    duration = format_duration(elapsed) if end else f"ongoing ({format_duration(elapsed)} so far)"
    review_from = end or incident.created_at
    chart = incident_chart(incident, ordered, now, samples)
    history = _severity_history(incident, ordered)
    return RcaFacts(
        incident_id=incident.id,
        human_id=incident.human_id,
        title=incident.title,
        description=incident.description,
        severity=incident.severity.label,
        initial_severity=history[0].severity,
        status=incident.status.value,
        service=incident.labels.get("service", ""),
        labels=dict(incident.labels),
        date=_utc(incident.created_at).strftime("%Y-%m-%d"),
        started=stamp(incident.created_at),
        ended=stamp(end) if end else "",
        ongoing=end is None,
        duration=duration,
        draft_due=stamp(review_from + DRAFT_DUE),
        complete_due=stamp(review_from + COMPLETE_DUE),
        timeline=_timeline(ordered),
        severity_history=history,
        values=tuple(
            _alert_value(e)
            for i, e in enumerate(ordered)
            if any(_scalar(e.data.get(k)) for k in _ALERT_KEYS)
            and not _is_repeat(e, ordered[i - 1] if i else None)
        ),
        trail=tuple(
            TrailLine(**_when(e.at), channel=channel, kind=e.kind, actor=e.actor, summary=summarize_event(e))
            for e in ordered
            if (channel := _trail_channel(e)) is not None
        ),
        chart=chart,
        chart_url=chart_url,
        has_chart=chart.drawable,
        generated_at=stamp(now),
        milestones=milestones(incident, ordered),
        participants=participants(ordered),
        alerts=involved_alerts(ordered),
        resolution_notes=resolution_notes(ordered),
        incident_url=incident_url,
        slack_threads=tuple(slack_threads),
        pagerduty_url=pagerduty_url(ordered),
        action_items=tuple(item_line(item, now) for item in action_items),
    )


def facts_context(facts: RcaFacts) -> Mapping[str, Any]:
    """Top-level template variables: every field of RcaFacts (see incident_templates/README.md)."""
    return {field: getattr(facts, field) for field in facts.__struct_fields__}

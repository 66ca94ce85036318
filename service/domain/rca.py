"""The facts an RCA is built from, and which template an incident's RCA starts from.

The document layout follows the "RCA Template" of shared/seeds/002_b1ab8eb4e8f4fb2c.txt; the review
deadlines (draft within 24 h, complete within 48 h) come from its "Post-Incident Review" and from
shared/seeds/000_ecc4e94453621508.txt ("Post-Mortem (within 48 hours for P0/P1)"). How a document is
split into machine-owned and human parts, merged and diffed is in service/domain/rca_markdown.py.

Facts are plain text taken from the timeline; escaping them for Markdown is the template layer's job,
so no caller can forget it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from service.domain.charts import ChartPoint, ChartSpec
from service.domain.durations import format_duration
from service.domain.incidents import Incident, TimelineEvent
from service.domain.severity import Severity

DEFAULT_TEMPLATE = "rca-default.md.j2"
SHORT_TEMPLATE = "rca-short.md.j2"
DRAFT_DUE = timedelta(hours=24)
COMPLETE_DUE = timedelta(hours=48)
_TEXT_LIMIT = 500


class TemplatePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Which template an incident's RCA starts from: a service's own wins, then the severity's."""

    by_severity: dict[Severity, str] = msgspec.field(
        default_factory=lambda: {
            Severity.P0: DEFAULT_TEMPLATE,
            Severity.P1: DEFAULT_TEMPLATE,
            Severity.P2: SHORT_TEMPLATE,
            Severity.P3: SHORT_TEMPLATE,
        }
    )
    by_service: dict[str, str] = msgspec.field(default_factory=dict)
    service_label: str = "service"
    fallback: str = DEFAULT_TEMPLATE

    @classmethod
    def from_config(
        cls, *, by_severity: Mapping[str, str] | None = None, by_service: Mapping[str, str] | None = None
    ) -> TemplatePolicy:
        """Build from a policy file's spelling (`P0: rca-default.md.j2`); unnamed severities keep defaults."""
        policy = cls()
        severities = dict(policy.by_severity)
        for key, name in (by_severity or {}).items():
            severities[Severity.parse(key)] = name
        return cls(by_severity=severities, by_service=dict(by_service or {}))

    def choose(self, incident: Incident) -> str:
        service = incident.labels.get(self.service_label)
        if service is not None and service in self.by_service:
            return self.by_service[service]
        return self.by_severity.get(incident.severity, self.fallback)

    def names(self) -> list[str]:
        return sorted({self.fallback, *self.by_severity.values(), *self.by_service.values()})


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


def number(value: object) -> float | None:
    """A finite number from event data; numeric strings count, booleans do not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


_ALERT_KEYS = ("rule", "metric", "value", "threshold", "runbook")
_KNOWN_KEYS = frozenset({"from", "to", "note", "reason", "text", "title", "severity", "labels", *_ALERT_KEYS})
_STATUS_WORDS = {
    "acknowledged": "acknowledged",
    "unacknowledged": "acknowledgement withdrawn",
    "mitigated": "mitigated",
    "resolved": "resolved",
    "reopened": "reopened",
    "retriggered": "re-triggered: the alert fired again while mitigated",
}


def summarize_event(event: TimelineEvent) -> str:
    """One line for a timeline event, as the RCA and the console word it."""
    data = event.data
    kind = event.kind
    if kind == "declared":
        text = f'declared "{_scalar(data.get("title"))}" at {_scalar(data.get("severity"))}'
    elif kind == "attached":
        text = f"alert fired again and attached ({_scalar(data.get('severity'))})"
    elif kind in ("severity_raised", "severity_lowered"):
        verb = "raised" if kind == "severity_raised" else "lowered"
        text = f"severity {verb} {_scalar(data.get('from'))} → {_scalar(data.get('to'))}"
        text += f": {_scalar(data['reason'])}" if _scalar(data.get("reason")) else ""
    elif kind in _STATUS_WORDS:
        text = _STATUS_WORDS[kind] + (f": {_scalar(data['note'])}" if _scalar(data.get("note")) else "")
    elif kind == "assigned":
        text = f"assigned to {_scalar(data.get('to'))}"
        text += f" (was {_scalar(data['from'])})" if _scalar(data.get("from")) else ""
    elif kind == "note":
        text = f"note: {_scalar(data.get('text'))}"
    elif kind in _MACHINE_WORDS and all(_scalar(data.get(k)) for k in _MACHINE_NEEDS.get(kind, ())):
        text = _MACHINE_WORDS[kind](data)
    else:
        extras = [f"{k}={_scalar(v)}" for k, v in sorted(data.items()) if k not in _KNOWN_KEYS and _scalar(v)]
        text = kind.replace("_", " ") + (f" ({', '.join(extras[:6])})" if extras else "")
    alert = [f"{k} {shown}" for k in ("value", "threshold", "rule") if (shown := _shown(data, k))]
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
_MACHINE_NEEDS = {
    "escalated": ("level",),
    "notification_sent": ("channel", "kind", "target"),
    "notification_failed": ("channel", "kind", "target"),
}
_MACHINE_WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "escalated": lambda d: (
        f"escalated to level {_scalar(d.get('level'))} {_scalar(d.get('level_name'))}"
        f" ({_scalar(d.get('reason')).replace('_', ' ')}){_targets(d)}"
    ),
    "escalation_stopped": lambda d: f"escalation stopped: {_scalar(d.get('reason')) or 'acknowledged'}",
    "escalation_rearmed": lambda d: f"escalation re-armed: {_scalar(d.get('reason'))}",
    "escalation_exhausted": lambda d: "escalation exhausted: every level was told",
    "alert_cleared": lambda d: f"alert cleared ({_scalar(d.get('series_count')) or 1} series)",
    "alert_level_changed": lambda d: f"alert level changed to {_scalar(d.get('level'))}",
    "notification_sent": lambda d: (
        f"{_scalar(d.get('channel'))} {_scalar(d.get('kind'))} sent to {_scalar(d.get('target'))}"
    ),
    "notification_failed": lambda d: (
        f"{_scalar(d.get('channel'))} {_scalar(d.get('kind'))} to {_scalar(d.get('target'))} FAILED:"
        f" {_scalar(d.get('error'))}"
    ),
    "rca_reminder": lambda d: f"RCA reminder ({_scalar(d.get('stage'))} due {_scalar(d.get('due'))})",
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
    changes = [e for e in events if e.kind in ("severity_raised", "severity_lowered")]
    declared = next((e for e in events if e.kind == "declared"), None)
    first = _scalar(changes[0].data.get("from")) if changes else incident.severity.label
    initial = (_scalar(declared.data.get("severity")) if declared else "") or first
    steps = [
        SeverityStep(
            **_when(incident.created_at),
            severity=initial,
            change="declared",
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
                change="raised" if event.kind == "severity_raised" else "lowered",
                previous=_scalar(event.data.get("from")),
                actor=event.actor,
                source=event.source,
                reason=_scalar(event.data.get("reason")),
            )
        )
    return tuple(steps)


def _chart(incident: Incident, events: Sequence[TimelineEvent], now: datetime) -> ChartSpec:
    """Chart the triggering rule: the rule of the first event that carries a numeric value."""
    valued = [e for e in events if number(e.data.get("value")) is not None]
    rule = next((_scalar(e.data.get("rule")) for e in valued if _scalar(e.data.get("rule"))), "")
    series = [e for e in valued if not rule or _scalar(e.data.get("rule")) in ("", rule)]
    thresholds = [t for t in (number(e.data.get("threshold")) for e in series) if t is not None]
    metric = next((_scalar(e.data.get("metric")) for e in series if _scalar(e.data.get("metric"))), "")
    name = rule or metric or "value"
    return ChartSpec(
        title=f"{incident.human_id}: {name}" + (f" ({metric})" if metric and metric != name else ""),
        points=tuple(ChartPoint(_utc(e.at), number(e.data.get("value")) or 0.0) for e in series),
        threshold=thresholds[-1] if thresholds else None,
        window_start=_utc(incident.created_at),
        window_end=_utc(incident.resolved_at) if incident.resolved_at else _utc(now),
    )


def build_facts(
    incident: Incident, events: Sequence[TimelineEvent], *, chart_url: str, now: datetime
) -> RcaFacts:
    ordered = sorted(events, key=lambda e: (_utc(e.at), e.id))
    end = incident.resolved_at
    elapsed = (end or now) - incident.created_at
    duration = format_duration(elapsed) if end else f"ongoing ({format_duration(elapsed)} so far)"
    review_from = end or incident.created_at
    chart = _chart(incident, ordered, now)
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
        timeline=tuple(
            TimelineLine(
                **_when(e.at), kind=e.kind, actor=e.actor, source=e.source, summary=summarize_event(e)
            )
            for e in ordered
        ),
        severity_history=history,
        values=tuple(_alert_value(e) for e in ordered if any(_scalar(e.data.get(k)) for k in _ALERT_KEYS)),
        trail=tuple(
            TrailLine(**_when(e.at), channel=channel, kind=e.kind, actor=e.actor, summary=summarize_event(e))
            for e in ordered
            if (channel := _trail_channel(e)) is not None
        ),
        chart=chart,
        chart_url=chart_url,
        has_chart=chart.drawable,
        generated_at=stamp(now),
    )


def facts_context(facts: RcaFacts) -> Mapping[str, Any]:
    """Top-level template variables: every field of RcaFacts (see incident_templates/README.md)."""
    return {field: getattr(facts, field) for field in facts.__struct_fields__}

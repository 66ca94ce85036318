"""The daily summary as data: what happened in the last 24 hours and what still needs someone.

Pure: the reports package reads the facts from PostgreSQL and renders the result as text, HTML and a
Slack digest. RCA deadlines follow 002_b1ab8eb4e8f4fb2c.txt "Post-Incident Review" (draft within 24 h,
complete within 48 h of resolution, for the severities the escalation policy's `rca` block names).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import msgspec

from service.domain.durations import format_duration
from service.domain.escalation_policy import RcaTimers
from service.domain.incidents import format_human_id, incident_page_url
from service.domain.severity import Severity

WINDOW = timedelta(hours=24)
NOISIEST = 5
ACTION_ITEMS_ANCHOR = "live-action-items"  # the console incident page's action items section
NO_FOLLOWUPS = "no follow-up data: action items are not recorded by this installation yet"


class SummaryIncident(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    title: str
    severity: Severity
    status: str
    service: str
    holder: str | None  # the assignee, else whoever acknowledged it last while it stays acknowledged
    created_at: datetime
    acknowledged_at: datetime | None  # the first acknowledgement
    resolved_at: datetime | None


class RuleNoise(msgspec.Struct, frozen=True, kw_only=True):
    rule: str
    incidents: int
    flaps: int  # alerts that cleared and fired again on an open incident (`retriggered`)


class RcaState(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    title: str
    severity: Severity
    resolved_at: datetime
    edited_by_person: bool  # a person has saved a version; a generated draft alone is not a draft


class FollowUp(msgspec.Struct, frozen=True, kw_only=True):
    """An open action item due on the summary's day or before (UTC calendar days, as items count them)."""

    ref: str  # AI-12
    incident_id: int
    owner: str
    due_on: date
    text: str


class SummaryFacts(msgspec.Struct, frozen=True, kw_only=True):
    end: datetime
    incidents: Sequence[SummaryIncident]  # opened, acknowledged or resolved in the window
    still_open: Sequence[SummaryIncident]
    pages: int
    pages_by_target: Sequence[tuple[str, int]]
    rules: Sequence[RuleNoise]
    rcas: Sequence[RcaState]
    followups: Sequence[FollowUp] | None  # None: no follow-up data exists to read


class Line(msgspec.Struct, frozen=True, kw_only=True):
    human_id: str
    url: str
    title: str
    severity: str
    status: str
    detail: str  # who has it, for how long, when it is due: already phrased for people


class Timing(msgspec.Struct, frozen=True, kw_only=True):
    severity: str
    acknowledged: int
    ack_median: str
    ack_worst: str
    resolved: int
    resolve_median: str
    resolve_worst: str


class DailySummary(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    window: str
    opened: Sequence[tuple[str, Sequence[Line]]]  # by severity, most severe first; every severity listed
    still_open: Sequence[Line]
    timings: Sequence[Timing]
    pages: int
    pages_by_target: Sequence[tuple[str, int]]
    most_incidents: Sequence[RuleNoise]
    most_flaps: Sequence[RuleNoise]
    rcas: Sequence[Line]
    followups: Sequence[Line]
    followups_note: str | None


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def spread(count: int, median: str, worst: str) -> str:
    """`3: median 4m, worst 10m`, or `none` when nothing was acknowledged or resolved."""
    return f"{count}: median {median}, worst {worst}" if count else "none"


def followup_detail(item: FollowUp, day: date) -> str:
    """`bob, due today (2026-12-01)` or `bob, due 2026-11-28, overdue by 3 days` (from the day after)."""
    owner = item.owner or "no owner"
    late = (day - item.due_on).days
    if late <= 0:
        return f"{owner}, due today ({item.due_on.isoformat()})"
    return f"{owner}, due {item.due_on.isoformat()}, overdue by {plural(late, 'day')}"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _spread(durations: Sequence[timedelta]) -> tuple[str, str]:
    if not durations:
        return "-", "-"
    median = timedelta(seconds=statistics.median(d.total_seconds() for d in durations))
    return format_duration(median), format_duration(max(durations))


def _line(incident: SummaryIncident, public_url: str, detail: str) -> Line:
    return Line(
        human_id=format_human_id(incident.id),
        url=incident_page_url(public_url, incident.id),
        title=incident.title,
        severity=incident.severity.label,
        status=incident.status,
        detail=detail,
    )


def _timings(incidents: Sequence[SummaryIncident], start: datetime, end: datetime) -> list[Timing]:
    rows: list[Timing] = []
    for severity in Severity:
        acks = [
            i.acknowledged_at - i.created_at
            for i in incidents
            if i.severity is severity and i.acknowledged_at is not None and start <= i.acknowledged_at < end
        ]
        fixes = [
            i.resolved_at - i.created_at
            for i in incidents
            if i.severity is severity and i.resolved_at is not None and start <= i.resolved_at < end
        ]
        ack_median, ack_worst = _spread(acks)
        fix_median, fix_worst = _spread(fixes)
        rows.append(
            Timing(
                severity=severity.label,
                acknowledged=len(acks),
                ack_median=ack_median,
                ack_worst=ack_worst,
                resolved=len(fixes),
                resolve_median=fix_median,
                resolve_worst=fix_worst,
            )
        )
    return rows


def rca_line(rca: RcaState, timers: RcaTimers, now: datetime, public_url: str) -> Line | None:
    """Where an RCA stands against its deadlines; None when nothing is due within the next day."""
    if rca.severity not in timers.severities:
        return None
    draft_due = rca.resolved_at + timers.draft_within
    final_due = rca.resolved_at + timers.final_within
    if not rca.edited_by_person:
        stage, due = "draft", draft_due
    else:
        stage, due = "final", final_due
    if due <= now:
        late = format_duration(now - due)
        detail = f"{stage} overdue by {late} (was due {_stamp(due)})"
        if stage == "final":
            detail += "; drafted, but no completion is recorded: check the document is finished"
    elif due - now <= WINDOW:
        detail = f"{stage} due in {format_duration(due - now)} ({_stamp(due)})"
    else:
        return None
    return Line(
        human_id=format_human_id(rca.id),
        url=incident_page_url(public_url, rca.id) + "/rca",
        title=rca.title,
        severity=rca.severity.label,
        status="resolved",
        detail=detail,
    )


def compose(facts: SummaryFacts, timers: RcaTimers | None, public_url: str) -> DailySummary:
    end = facts.end
    start = end - WINDOW
    opened: list[tuple[str, list[Line]]] = []
    for severity in Severity:
        lines = [
            _line(i, public_url, f"opened {_stamp(i.created_at)}, {i.status}")
            for i in sorted(facts.incidents, key=lambda i: i.created_at)
            if i.severity is severity and start <= i.created_at < end
        ]
        opened.append((severity.label, lines))
    still_open = [
        _line(
            i,
            public_url,
            f"{i.status} for {format_duration(end - i.created_at)}, "
            + (f"held by {i.holder}" if i.holder else "nobody has it"),
        )
        for i in sorted(facts.still_open, key=lambda i: (i.severity, i.created_at))
    ]
    rcas = [
        line
        for rca in sorted(facts.rcas, key=lambda r: r.resolved_at)
        if timers is not None and (line := rca_line(rca, timers, end, public_url)) is not None
    ]
    day = end.astimezone(UTC).date()
    followups = [
        Line(
            human_id=format_human_id(f.incident_id),
            url=f"{incident_page_url(public_url, f.incident_id)}#{ACTION_ITEMS_ANCHOR}",
            title=f"{f.ref} {f.text}",
            severity="",
            status="",
            detail=followup_detail(f, day),
        )
        for f in sorted(facts.followups or (), key=lambda f: (f.due_on, f.ref))
        if f.due_on <= day
    ]
    noisy = [r for r in facts.rules if r.incidents > 0]
    flappy = [r for r in facts.rules if r.flaps > 0]
    return DailySummary(
        title=f"Incident summary for {end.strftime('%Y-%m-%d')}",
        window=f"{_stamp(start)} to {_stamp(end)}",
        opened=opened,
        still_open=still_open,
        timings=_timings(facts.incidents, start, end),
        pages=facts.pages,
        pages_by_target=list(facts.pages_by_target),
        most_incidents=sorted(noisy, key=lambda r: (-r.incidents, r.rule))[:NOISIEST],
        most_flaps=sorted(flappy, key=lambda r: (-r.flaps, r.rule))[:NOISIEST],
        rcas=rcas,
        followups=followups,
        followups_note=NO_FOLLOWUPS if facts.followups is None else None,
    )

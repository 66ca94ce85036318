"""The daily summary as an email's two parts: plain text, and HTML rendered by Jinja2 with autoescape.

Every value is outside text (titles, names, rule names), so the HTML template never marks anything
safe; links are only our own console URLs.
"""

from __future__ import annotations

from collections.abc import Sequence

import jinja2

from service.domain.daily_summary import DailySummary, Line, plural, spread

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("service.reports", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def subject(summary: DailySummary) -> str:
    opened = sum(len(lines) for _, lines in summary.opened)
    return f"{summary.title}: {opened} opened, {len(summary.still_open)} still open, {summary.pages} pages"


def _lines(lines: Sequence[Line], empty: str) -> list[str]:
    if not lines:
        return [f"  {empty}"]
    return [
        f"  {line.human_id} [{line.severity}] {line.title}: {line.detail}\n    {line.url}" for line in lines
    ]


def text_part(summary: DailySummary) -> str:
    out = [summary.title, f"Window: {summary.window}", ""]
    out.append("Incidents opened in the last 24 hours")
    for severity, lines in summary.opened:
        out.append(f" {severity}: {len(lines)}")
        out.extend(_lines(lines, "none") if lines else [])
    out += ["", "Still open"]
    out.extend(_lines(summary.still_open, "nothing is open"))
    out += ["", "Time to acknowledge and resolve, from opening"]
    for t in summary.timings:
        out.append(
            f"  {t.severity}: acknowledged {spread(t.acknowledged, t.ack_median, t.ack_worst)};"
            f" resolved {spread(t.resolved, t.resolve_median, t.resolve_worst)}"
        )
    out += ["", f"Pages sent: {summary.pages}"]
    out.extend(f"  {target}: {count}" for target, count in summary.pages_by_target)
    out += ["", "Noisiest rules (incidents opened)"]
    out.extend(
        [f"  {r.rule}: {plural(r.incidents, 'incident')}" for r in summary.most_incidents] or ["  none"]
    )
    out += ["", "Most flapping rules (fired again after clearing)"]
    out.extend([f"  {r.rule}: {plural(r.flaps, 'flap')}" for r in summary.most_flaps] or ["  none"])
    out += ["", "RCAs due or overdue (draft 24 h, complete 48 h after resolution)"]
    out.extend(_lines(summary.rcas, "none due"))
    out += ["", "Follow-ups due"]
    if summary.followups_note:
        out.append(f"  {summary.followups_note}")
    else:
        out.extend(
            [f"  {f.human_id} {f.title}: {f.detail}\n    {f.url}" for f in summary.followups]
            or ["  none due"]
        )
    return "\n".join(out) + "\n"


def html_part(summary: DailySummary) -> str:
    return _ENV.get_template("daily_summary.html.j2").render(s=summary)

"""The daily summary as one Slack message (Block Kit), within Slack's limits, every outside text escaped.

Limits (api.slack.com/reference/block-kit): at most 50 blocks, a section's text at most 3,000
characters, a header's 150. Long lists are cut with a line saying how many more there are, and the
header links to the console where the rest is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.domain.daily_summary import DailySummary, Line, plural, spread
from service.notifications.channels.slack.text import escape, link

SECTION_LIMIT = 2900  # under Slack's 3,000 with room for the "and N more" line
HEADER_LIMIT = 150
FALLBACK_LIMIT = 3000


def _section(heading: str, rows: Sequence[str], empty: str) -> dict[str, Any]:
    text = f"*{heading}*"
    if not rows:
        text += f"\n{empty}"
    for index, row in enumerate(rows):
        more = f"\n…and {len(rows) - index} more in the console"
        if len(text) + 1 + len(row) + len(more) > SECTION_LIMIT:
            text += more
            break
        text += "\n" + row
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _row(line: Line) -> str:
    severity = f" `{line.severity}`" if line.severity else ""
    return f"• {link(line.url, line.human_id)}{severity} {escape(line.title)}: {escape(line.detail)}"


def digest_blocks(summary: DailySummary, console_url: str) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text for notifications, blocks)."""
    counts = ", ".join(f"{severity} {len(lines)}" for severity, lines in summary.opened)
    opened = [_row(line) for _, lines in summary.opened for line in lines]
    timings = [
        f"`{t.severity}` acknowledged {spread(t.acknowledged, t.ack_median, t.ack_worst)};"
        f" resolved {spread(t.resolved, t.resolve_median, t.resolve_worst)}"
        for t in summary.timings
        if t.acknowledged or t.resolved
    ]
    pages = [f"• {escape(target)}: {count}" for target, count in summary.pages_by_target]
    noisy = [f"• {escape(r.rule)}: {plural(r.incidents, 'incident')}" for r in summary.most_incidents]
    flappy = [f"• {escape(r.rule)}: {plural(r.flaps, 'flap')}" for r in summary.most_flaps]
    followups = [_row(line) for line in summary.followups]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": summary.title[:HEADER_LIMIT]}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{escape(summary.window)} · {link(console_url, 'open the console')}",
                }
            ],
        },
        _section(f"Opened in the last 24 hours: {counts}", opened, "No incidents were opened."),
        _section(
            f"Still open: {len(summary.still_open)}",
            [_row(x) for x in summary.still_open],
            "Nothing is open.",
        ),
        _section("Time to acknowledge and resolve", timings, "Nothing was acknowledged or resolved."),
        _section(f"Pages sent: {summary.pages}", pages, "No pages."),
        _section("Noisiest rules", noisy + flappy, "No rule opened an incident or flapped."),
        _section("RCAs due or overdue", [_row(x) for x in summary.rcas], "None due."),
        _section(
            "Follow-ups due",
            followups,
            escape(summary.followups_note) if summary.followups_note else "None due.",
        ),
    ]
    fallback = (
        f"{summary.title}: {sum(len(lines) for _, lines in summary.opened)} opened ({counts}),"
        f" {len(summary.still_open)} still open, {summary.pages} pages"
    )
    return escape(fallback)[:FALLBACK_LIMIT], blocks

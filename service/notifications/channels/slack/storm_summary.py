"""Storm summaries: one line per incident, split across as many Slack messages as Slack accepts.

A summary stands in for the channel posts of many incidents, so it must name every one of
them: nothing is cut. Slack's documented limits shape the split (Block Kit reference and
chat.postMessage): at most 50 blocks per message and 3,000 characters of text in a section
block; a message's `text` is truncated beyond 40,000 characters and should stay under 4,000.
Slack also refuses messages whose blocks add up to roughly 13,000 characters
(`msg_blocks_too_long`, not documented), so a part keeps its blocks under 12,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.notifications.channels.slack.text import escape

MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3000
FALLBACK_TEXT_MAX = 4000
PART_CHARS_MAX = 12_000
TITLE_MAX = 150
BREACH_MAX = 200
_HEADER_ALLOWANCE = 600  # the part's header section, counted before the lines are packed


@dataclass(frozen=True)
class StormPart:
    """One message of a summary: the incidents it names, and its fallback text and blocks."""

    incident_ids: tuple[int, ...]
    text: str
    blocks: list[dict[str, Any]]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def incident_line(snap: dict[str, Any]) -> str:
    """`• *P1* <url|INC-42> title: breach`, escaped, short enough to always fit a section."""
    title = escape(_clip(str(snap.get("title", "")), TITLE_MAX))
    breach = str(snap.get("breach") or "")
    tail = "" if not breach or breach == snap.get("title") else f": {escape(_clip(breach, BREACH_MAX))}"
    link = f"<{snap['url']}|{escape(str(snap['human_id']))}>"
    return f"• *{escape(str(snap['severity']))}* {link} {title}{tail}"


def _sections(lines: list[str]) -> list[str]:
    sections: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and size + 1 + len(line) > SECTION_TEXT_MAX:
            sections.append("\n".join(current))
            current, size = [], 0
        size += len(line) + (1 if current else 0)
        current.append(line)
    if current:
        sections.append("\n".join(current))
    return sections


def _pack(members: Sequence[tuple[int, dict[str, Any]]]) -> list[list[tuple[int, str]]]:
    """Group lines into parts: each within the block count and character budget of one message."""
    parts: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for incident_id, snap in members:
        line = (incident_id, incident_line(snap))
        candidate = [text for _, text in [*current, line]]
        sections = _sections(candidate)
        chars = sum(len(s) for s in sections) + _HEADER_ALLOWANCE
        if current and (len(sections) + 1 > MAX_BLOCKS or chars > PART_CHARS_MAX):
            parts.append(current)
            current = []
        current.append(line)
    if current:
        parts.append(current)
    return parts


def storm_parts(
    channel: str,
    interval_seconds: float,
    members: Sequence[tuple[int, dict[str, Any]]],
    *,
    already_named: int = 0,
) -> list[StormPart]:
    """The messages that name `members`, most severe first; together they name each of them once.

    `already_named` counts members an earlier attempt posted before it was cut short: the
    rest continue their numbering, so the spans still add up to the header's total.
    """
    total = already_named + len(members)
    packed = _pack(sorted(members, key=lambda m: (str(m[1]["severity"]), m[0])))
    where = escape(channel)
    parts: list[StormPart] = []
    first = already_named + 1
    for number, lines in enumerate(packed, start=1):
        last = first + len(lines) - 1
        span = f"incidents {first}–{last} of {total}" if total > 1 else "1 incident"
        if number == 1 and not already_named:
            spread = "this message" if len(packed) == 1 else f"{len(packed)} messages"
            head = (
                f":thunder_cloud_and_rain: *Incident storm in {where}*: {total} new incidents in "
                f"{interval_seconds:g}s, named in {spread} instead of {total} posts. Updates to an "
                "incident reply in the thread of the message that names it."
            )
        else:
            head = f":thunder_cloud_and_rain: *Incident storm in {where}* (continued)"
        head += f"\n_{span[0].upper()}{span[1:]}_"
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
        blocks += [
            {"type": "section", "text": {"type": "mrkdwn", "text": s}}
            for s in _sections([text for _, text in lines])
        ]
        fallback = f"Incident storm in {where}: {total} new incidents ({span})"
        parts.append(
            StormPart(
                incident_ids=tuple(i for i, _ in lines),
                text=_clip(fallback, FALLBACK_TEXT_MAX),
                blocks=blocks,
            )
        )
        first = last + 1
    return parts

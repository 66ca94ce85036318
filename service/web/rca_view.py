"""RCA Markdown as console HTML: sanitised, with the machine-owned sections visibly framed.

Each stretch of the document is rendered by the RCA sanitiser on its own; the frames
around machine sections are ours, and the only text in them is the section's name,
escaped. The chart link the template writes (an API path) is pointed at the console's
copy, which a logged-in browser may load.
"""

from __future__ import annotations

import difflib

from markupsafe import Markup, escape

from service.domain.rca_markdown import scan
from service.rca.markdown_html import markdown_to_safe_html
from service.rca.service import chart_path


def console_chart_path(incident_id: int) -> str:
    return f"/incidents/{incident_id}/rca/chart.svg"


def _html(markdown: str, incident_id: int) -> str:
    return markdown_to_safe_html(markdown).replace(chart_path(incident_id), console_chart_path(incident_id))


def marked_html(markdown: str, incident_id: int) -> Markup:
    sections, _ = scan(markdown)
    out: list[str] = []
    position = 0
    for section in sections:
        out.append(_html(markdown[position : section.begin], incident_id))
        name = escape(section.name)
        out.append(
            f'<section class="machine" aria-label="Machine section {name}">'
            f'<p class="machine-tag">Machine section “{name}”: regenerated from the timeline;'
            " edits here are replaced on Regenerate</p>"
            f"{_html(markdown[section.content_start : section.content_end], incident_id)}</section>"
        )
        position = section.end
    out.append(_html(markdown[position:], incident_id))
    return Markup("".join(out))  # noqa: S704 - every piece was sanitised or escaped above


def machine_sections(markdown: str) -> list[str]:
    return [s.name for s in scan(markdown)[0]]


def diff_rows(old: str, new: str) -> list[tuple[str, str]]:
    """(kind, line) for a side-by-side-free, readable line diff: kind is ' ', '+', '-' or '@'."""
    rows: list[tuple[str, str]] = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            rows.append(("@", line))
        else:
            rows.append((line[:1] or " ", line[1:]))
    return rows

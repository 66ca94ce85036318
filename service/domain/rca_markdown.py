"""RCA documents as text: machine-owned sections, regeneration merge, diffs, and Markdown escaping.

Machine-owned parts sit between marker lines `<!-- incidentd:begin NAME -->` and
`<!-- incidentd:end NAME -->` (HTML comments: they survive Markdown editors and do not render).
Regeneration replaces what lies between a pair and keeps every other character of the current
document. A pair the author deleted stays deleted; a marker without its partner is ordinary text,
because guessing where a machine section ends could eat an author's prose. Markers only count on a
line of their own, and escaped values can never start a line, so no title or note can forge one.
"""

from __future__ import annotations

import difflib
import re

import msgspec

MACHINE_SECTIONS = (
    "facts",
    "milestones",
    "links",
    "timeline",
    "participants",
    "severity",
    "alerts",
    "chart",
    "trail",
    "action_items",
)
MAX_DOCUMENT_CHARS = 500_000

_MARKER = re.compile(
    r"^[ \t]*<!--[ \t]*incidentd:(?P<kind>begin|end)[ \t]+(?P<name>[A-Za-z0-9_.-]+)[ \t]*-->[ \t]*\r?$",
    re.MULTILINE,
)
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x85]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ALWAYS_ESCAPED = frozenset("\\`*[]<>|&~")
# Line starts that would open a heading, list or setext underline if a template put a value first.
_LEADING_BLOCK = re.compile(r"^(?:#{1,6}|[+-]|\d{1,9}[.)])(?=[ \t]|$)|^(?:=+|-+)$")


def escape_inline(text: str) -> str:
    """Make untrusted text one line of literal Markdown.

    Line breaks become spaces (so no value can start a line, open a heading or fake a marker line),
    and every character that could start a link, HTML, code or emphasis is backslash-escaped.
    Underscores inside words stay bare, since `error_rate_total` cannot emphasise anything.
    """
    flat = _CONTROL.sub("", _LINE_BREAKS.sub(" ", text).replace("\t", " ")).strip()
    out: list[str] = []
    for index, char in enumerate(flat):
        if char in _ALWAYS_ESCAPED:
            out.append("\\" + char)
        elif char == "_":
            before = flat[index - 1] if index else ""
            after = flat[index + 1] if index + 1 < len(flat) else ""
            out.append("_" if before.isalnum() and after.isalnum() else "\\_")
        else:
            out.append(char)
    escaped = "".join(out)
    match = _LEADING_BLOCK.match(escaped)
    if match:
        cut = match.end() - 1
        escaped = escaped[:cut] + "\\" + escaped[cut:]
    return escaped


# --- sections, merge and diff ------------------------------------------------------------------------


class Section(msgspec.Struct, frozen=True):
    """A well-formed machine section; offsets index into the document string."""

    name: str
    begin: int
    content_start: int
    content_end: int
    end: int


def scan(text: str) -> tuple[list[Section], list[str]]:
    """Pair begin/end markers; returns the sections and a description of every stray marker."""
    markers = list(_MARKER.finditer(text))
    sections: list[Section] = []
    strays: list[str] = []
    index = 0
    while index < len(markers):
        marker = markers[index]
        following = markers[index + 1] if index + 1 < len(markers) else None
        if (
            marker["kind"] == "begin"
            and following is not None
            and following["kind"] == "end"
            and following["name"] == marker["name"]
        ):
            sections.append(
                Section(marker["name"], marker.start(), marker.end(), following.start(), following.end())
            )
            index += 2
            continue
        line = text.count("\n", 0, marker.start()) + 1
        strays.append(f"line {line}: '{marker['kind']} {marker['name']}' marker has no matching partner")
        index += 1
    return sections, strays


def structure_problems(text: str) -> list[str]:
    """Why a freshly rendered template would make a document that cannot be regenerated safely."""
    sections, problems = scan(text)
    seen: set[str] = set()
    for section in sections:
        if section.name in seen:
            problems.append(f"section '{section.name}' appears twice")
        seen.add(section.name)
    return problems


def section_contents(text: str) -> dict[str, str]:
    sections, _ = scan(text)
    found: dict[str, str] = {}
    for section in sections:
        found.setdefault(section.name, text[section.content_start : section.content_end])
    return found


class MergeResult(msgspec.Struct, frozen=True):
    text: str
    replaced: tuple[str, ...]
    not_in_document: tuple[str, ...]  # machine sections the author removed; left out on purpose


def merge(current: str, regenerated: str) -> MergeResult:
    """Refresh machine sections of `current` from `regenerated`; every other character stays as it is."""
    fresh = section_contents(regenerated)
    sections, _ = scan(current)
    pieces: list[str] = []
    position = 0
    replaced: list[str] = []
    for section in sections:
        if section.name not in fresh:
            continue  # a section the current template no longer has: leave it alone
        pieces.append(current[position : section.content_start])
        pieces.append(fresh[section.name])
        position = section.content_end
        replaced.append(section.name)
    pieces.append(current[position:])
    present = {s.name for s in sections}
    return MergeResult(
        text="".join(pieces),
        replaced=tuple(replaced),
        not_in_document=tuple(name for name in fresh if name not in present),
    )


def _lines(text: str) -> list[str]:
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def unified_diff(old: str, new: str, *, old_label: str, new_label: str) -> str:
    """A `diff -u` style patch that splits only on \\n, so it shows exactly what changed."""
    out: list[str] = []
    for line in difflib.unified_diff(_lines(old), _lines(new), old_label, new_label, n=3):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def document_problem(markdown: str) -> str | None:
    """Why a submitted document cannot be stored, or None."""
    if "\x00" in markdown:
        return "markdown contains a NUL character"
    if len(markdown) > MAX_DOCUMENT_CHARS:
        return f"markdown is longer than {MAX_DOCUMENT_CHARS} characters"
    return None

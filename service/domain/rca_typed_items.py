"""Action items a person types into an RCA, read from the human part of its "Action Items" section.

    - [ ] Add an index on orders.created_at @bob due 2026-12-15

One open task line is one item. The owner (`@name`) and the due day (`due YYYY-MM-DD`, or a bare
YYYY-MM-DD) are optional and may stand anywhere in the line; the rest is the title. Prompts
(`- [ ] _..._`, the template's italic placeholders), ticked lines (`- [x]`), lines that already name
an item (`AI-12`), text inside machine sections and inside code fences are left alone: they are
the author's prose, not requests. A line that looks like a task but cannot become one (a date that
is not a day, two owners) is reported with its line number and kept as it is, so no save loses text.
"""

from __future__ import annotations

import re
from datetime import date

import msgspec

from service.domain.action_items import owner_problem, title_problem
from service.domain.rca_markdown import scan

_HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<title>.*?)[ \t#]*$")
_TASK = re.compile(r"^[ \t]{0,3}[-*+][ \t]+\[(?P<mark>[ xX])\][ \t]+(?P<body>.*?)[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(?:```|~~~)")
_REF = re.compile(r"\bAI-\d+\b", re.IGNORECASE)
_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_SECTION_TITLE = "action items"
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


class TypedItem(msgspec.Struct, frozen=True, kw_only=True):
    """A task line to turn into an action item; `start`/`end` cover the line and its line break."""

    line: int
    start: int
    end: int
    title: str
    owner: str = ""
    due_on: date | None = None


class TypedItems(msgspec.Struct, frozen=True):
    items: tuple[TypedItem, ...]
    problems: tuple[str, ...]


def _lines(text: str) -> list[tuple[int, int, str]]:
    """(start, end including the break, line without the break) for every line."""
    return [(m.start(), m.end(), m.group().rstrip("\r\n")) for m in _LINE.finditer(text)]


def _due(token: str) -> date:
    try:
        return date.fromisoformat(token)
    except ValueError:
        raise ValueError(f"due: {token!r} is not a day; write YYYY-MM-DD, e.g. 2026-12-15") from None


def _read(body: str) -> tuple[str, str, date | None]:
    """(title, owner, due day) of a task's text; ValueError names the field that is wrong."""
    words = body.split()
    owners = [w for w in words if w.startswith("@") and len(w) > 1]
    if len(owners) > 1:
        raise ValueError(f"owner: {', '.join(owners)} are several owners; an item has one")
    due: date | None = None
    kept: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word.lower().rstrip(":") == "due" and index + 1 < len(words):
            if due is not None:
                raise ValueError("due: the line gives two due days")
            due = _due(words[index + 1])
            index += 2
            continue
        if _DATE_LIKE.match(word):
            if due is not None:
                raise ValueError("due: the line gives two due days")
            due = _due(word)
        elif word not in owners:
            kept.append(word)
        index += 1
    title = " ".join(kept)
    owner = owners[0] if owners else ""
    for field, problem in (("title", title_problem(title)), ("owner", owner_problem(owner))):
        if problem:
            raise ValueError(f"{field}: {problem}")
    return title, owner, due


def _is_prompt(body: str) -> bool:
    return len(body) > 1 and body[0] == body[-1] and body[0] in "_*"


def typed_items(markdown: str) -> TypedItems:
    """The open task lines of the human part of the first "Action Items" section, and bad ones."""
    sections, _ = scan(markdown)
    machine = [(s.begin, s.end) for s in sections]
    items: list[TypedItem] = []
    problems: list[str] = []
    level = 0
    fenced = False
    for number, (start, end, line) in enumerate(_lines(markdown), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        heading = _HEADING.match(line)
        if heading:
            depth = len(heading["hashes"])
            if level and depth <= level:
                break  # the section ended; only the first "Action Items" section counts
            if not level and heading["title"].strip().lower() == _SECTION_TITLE:
                level = depth
            continue
        if not level or any(begin <= start < stop for begin, stop in machine):
            continue
        task = _TASK.match(line)
        if task is None or task["mark"] != " ":
            continue
        body = task["body"]
        if not body or _is_prompt(body) or _REF.search(body):
            continue
        try:
            title, owner, due = _read(body)
        except ValueError as exc:
            problems.append(f"line {number}: {exc}; the line was kept as text, not made an action item")
            continue
        items.append(TypedItem(line=number, start=start, end=end, title=title, owner=owner, due_on=due))
    return TypedItems(tuple(items), tuple(problems))


def without_lines(markdown: str, items: tuple[TypedItem, ...] | list[TypedItem]) -> str:
    """The document with the given task lines cut out; every other character is kept."""
    pieces: list[str] = []
    position = 0
    for item in sorted(items, key=lambda i: i.start):
        pieces.append(markdown[position : item.start])
        position = item.end
    pieces.append(markdown[position:])
    return "".join(pieces)

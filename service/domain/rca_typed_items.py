"""Action items a person types into an RCA, read from the human part of its "Action Items" section.

    - [ ] Add an index on orders.created_at @bob due 2026-12-15

One open task line is one item. The owner (`@name`) and the due day (`due YYYY-MM-DD`, or a bare
YYYY-MM-DD) are optional and may stand anywhere in the line; the rest is the title. Prompts
(`- [ ] _..._`, the template's italic placeholders), ticked lines (`- [x]`), lines that already name
an item (`AI-12`), text inside machine sections and inside code fences are left alone: they are
the author's prose, not requests. A line that looks like a task but cannot become one (a date that
is not a day, two owners) is reported with its line number and kept as it is, so no save loses text.

The text is never changed by a save. Regeneration ties each typed line to its item by writing the
item's `AI-n` into it (after the box), and keeps the box in step with the item's status, so a
later save recognises the line and the text agrees with the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date

import msgspec

from service.domain.action_items import ActionItem, ItemStatus, owner_problem, title_problem
from service.domain.rca_markdown import scan

_HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<title>.*?)[ \t#]*$")
_TASK = re.compile(r"^[ \t]{0,3}[-*+][ \t]+\[(?P<mark>[ xX])\][ \t]+(?P<body>.*?)[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(?:```|~~~)")
_REF = re.compile(r"\bAI-\d+\b", re.IGNORECASE)
_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_SECTION_TITLE = "action items"
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


class TypedItem(msgspec.Struct, frozen=True, kw_only=True):
    """A task line to turn into an action item."""

    line: int
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


def _task_lines(markdown: str) -> Iterator[tuple[int, int, int, re.Match[str]]]:
    """(line number, start, end, match) of every task line in the human part of the section."""
    sections, _ = scan(markdown)
    machine = [(s.begin, s.end) for s in sections]
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
                return  # the section ended; only the first "Action Items" section counts
            if not level and heading["title"].strip().lower() == _SECTION_TITLE:
                level = depth
            continue
        if not level or any(begin <= start < stop for begin, stop in machine):
            continue
        task = _TASK.match(line)
        if task is not None and task["body"] and not _is_prompt(task["body"]):
            yield number, start, end, task


def typed_items(markdown: str) -> TypedItems:
    """The open task lines of the section that name no item yet, and the ones that cannot be items."""
    items: list[TypedItem] = []
    problems: list[str] = []
    for number, _, _, task in _task_lines(markdown):
        body = task["body"]
        if task["mark"] != " " or _REF.search(body):
            continue
        try:
            title, owner, due = _read(body)
        except ValueError as exc:
            problems.append(f"line {number}: {exc}; the line was kept as text, not made an action item")
            continue
        items.append(TypedItem(line=number, title=title, owner=owner, due_on=due))
    return TypedItems(tuple(items), tuple(problems))


def written_back(markdown: str, items: Sequence[ActionItem]) -> str:
    """The document with each typed line tied to its item: `AI-n` written after the box of a line
    whose title an item has, and the box of a line naming an item ticked when it is done or dropped
    (cleared when reopened). Nothing else in the document changes."""
    by_id = {i.id: i for i in items}
    by_title = {i.title.casefold(): i for i in items}
    edits: list[tuple[int, int, str]] = []
    for _, start, _, task in _task_lines(markdown):
        body = task["body"]
        ref = _REF.search(body)
        if ref is not None:
            item = by_id.get(int(ref.group()[3:]))
            if item is not None:
                mark = " " if item.status is ItemStatus.OPEN else "x"
                if task["mark"].lower() != mark:
                    edits.append((start + task.start("mark"), start + task.end("mark"), mark))
            continue
        if task["mark"] != " ":
            continue
        try:
            title = _read(body)[0]
        except ValueError:
            continue
        found = by_title.get(title.casefold())
        if found is not None:
            if found.status is not ItemStatus.OPEN:
                edits.append((start + task.start("mark"), start + task.end("mark"), "x"))
            at = start + task.start("body")
            edits.append((at, at, f"{found.ref} "))
    pieces: list[str] = []
    position = 0
    for begin, stop, text in edits:
        pieces += [markdown[position:begin], text]
        position = stop
    pieces.append(markdown[position:])
    return "".join(pieces)

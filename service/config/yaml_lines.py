"""YAML that remembers where everything came from, and a msgspec decoder that reports every problem.

`yaml.safe_load` forgets line numbers and `msgspec.convert` stops at the first
error; an SRE fixing a rule file wants all the `file:line: field: problem`
lines at once. So the document is composed into nodes (whose `start_mark`
carries the line), turned into plain data while recording each path's line,
then decoded field by field against the msgspec Struct that describes it.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

DataPath = tuple[str | int, ...]
# libyaml's composer, where PyYAML was built with it: for a 10,000-rule file it holds about 60 % of
# the pure-Python composer's memory at its peak, and takes an eighth of the time.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
S = TypeVar("S", bound=msgspec.Struct)


class Problem(msgspec.Struct, frozen=True, order=True):
    """One thing wrong in one file; sorts by file then line, which is the order people fix them in."""

    file: str
    line: int
    field: str
    message: str
    warning: bool = False  # worth saying, but the file is still accepted

    def __str__(self) -> str:
        kind = "warning: " if self.warning else ""
        return f"{self.file}:{self.line}: {self.field}: {kind}{self.message}"


class Located(msgspec.Struct, frozen=True):
    """Plain data (dicts, lists, scalars) plus the 1-based line of every path in it."""

    file: str
    data: Any
    lines: dict[DataPath, int]
    duplicates: tuple[DataPath, ...] = ()  # keys given twice in one mapping; YAML keeps the last
    directory: str = ""  # the file's own directory, for paths written relative to it

    def line(self, path: DataPath) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


class Report:
    """Collects problems against a document; `describe` turns a data path into the field people see."""

    def __init__(self, doc: Located, describe: Callable[[DataPath], str] | None = None) -> None:
        self.doc = doc
        self.describe = describe or dotted
        self.problems: list[Problem] = []
        for path in doc.duplicates:
            self.error(path, "duplicate key (YAML keeps only the last)")

    def error(self, path: DataPath, message: str, *, line_of: DataPath | None = None) -> None:
        line = self.doc.line(line_of if line_of is not None else path)
        self.problems.append(Problem(self.doc.file, line, self.describe(path) or "(file)", message))

    def warn(self, path: DataPath, message: str) -> None:
        line = self.doc.line(path)
        self.problems.append(Problem(self.doc.file, line, self.describe(path) or "(file)", message, True))


def dotted(path: DataPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(type(value), "a number")


class _Builder:
    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        self.lines: dict[DataPath, int] = {}
        self.duplicates: list[DataPath] = []
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: DataPath) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
            self.constructor.flatten_mapping(node)  # honour `<<: *defaults`; merged pairs come first
            inherited = len(node.value) - own
            result: dict[str, Any] = {}
            given: set[str] = set()
            for index, (key_node, value_node) in enumerate(node.value):
                key = self.constructor.construct_object(key_node) if key_node.tag.endswith(":str") else None
                line = key_node.start_mark.line + 1
                if not isinstance(key, str):
                    self.problems.append(
                        Problem(self.file, line, dotted(path) or "(file)", "keys must be text")
                    )
                    continue
                if index >= inherited:
                    if key in given:
                        self.duplicates.append((*path, key))
                    given.add(key)
                self.lines[(*path, key)] = line
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self.constructor.construct_object(node)


def display_path(path: Path, base: Path | None) -> str:
    """Paths relative to `base` when they are under it: shorter messages that editors still resolve."""
    if base is not None:
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(path)


def load_located(path: Path, *, shown_as: str | None = None) -> tuple[Located | None, list[Problem]]:
    """Read and compose one YAML file; syntax errors come back as problems with their line."""
    file = shown_as or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(file, 1, "(file)", f"cannot read: {getattr(exc, 'strerror', None) or exc}")]
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        return None, [Problem(file, line, "yaml", f"syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, [Problem(file, 1, "yaml", f"syntax error: {exc}")]
    if root is None:
        return None, [Problem(file, 1, "(file)", "file is empty")]
    problems: list[Problem] = []
    builder = _Builder(file, problems)
    try:
        data = builder.build(root, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 1
        return None, [Problem(file, line, "yaml", f"cannot read value: {exc.problem}")]
    located = Located(file, data, builder.lines, tuple(builder.duplicates), str(path.resolve().parent))
    return located, problems


def _struct_type(annotation: Any) -> tuple[type[msgspec.Struct] | None, bool, bool]:
    """(struct class, is a list of it, may be None) for the annotations the decoder recurses into."""
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) != 1:
            return None, False, optional
        annotation = args[0]
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation, False, optional
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        if isinstance(item, type) and issubclass(item, msgspec.Struct):
            return item, True, optional
    return None, False, optional


_AT = re.compile(r" - at `\$(.*)`$")


def _convert_message(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    match = _AT.search(text)
    if match:
        text = f"{text[: match.start()]} (at {match.group(1)})"
    return text.replace("Expected `", "expected `")


def decode(data: Any, cls: type[S], path: DataPath, report: Report) -> S | None:
    """Decode a mapping into `cls`, reporting unknown, missing and mistyped fields all at once.

    Returns None when a required or mistyped field makes the struct impossible to build; a bad
    item in a list of structs is reported and left out, so its siblings are still checked.
    """
    if not isinstance(data, dict):
        report.error(path, f"expected a mapping, got {_kind(data)}")
        return None
    fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
    values: dict[str, Any] = {}
    ok = True
    for key, raw in data.items():
        field = fields.get(key)
        where = (*path, key)
        if field is None:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(fields)})"
            report.error(where, f"unknown field{hint}")
            continue  # reported, but the rest of the mapping is still worth checking
        struct, many, optional = _struct_type(field.type)
        value: Any
        if struct is not None and raw is None and optional:
            value = None
        elif struct is not None and many:
            if not isinstance(raw, list):
                report.error(where, f"expected a list, got {_kind(raw)}")
                ok = False
                continue
            decoded = (decode(item, struct, (*where, i), report) for i, item in enumerate(raw))
            value = [item for item in decoded if item is not None]  # a bad row does not hide its siblings
        elif struct is not None:
            value = decode(raw, struct, where, report)
            ok = ok and value is not None
        else:
            try:
                value = msgspec.convert(raw, field.type)
            except msgspec.ValidationError as exc:
                report.error(where, _convert_message(exc))
                ok = False
                continue
        values[field.name] = value
    for field in fields.values():
        if field.required and field.encode_name not in data:
            report.error((*path, field.encode_name), "missing (required)", line_of=path)
            ok = False
    return cls(**values) if ok else None

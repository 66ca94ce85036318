"""Jinja2 for RCA Markdown templates in incident_templates/.

HTML autoescaping would be wrong for Markdown (it would print `&lt;` in the
document), but values still come from people: titles, notes, rule names. So
every `{{ value }}` goes through a Markdown finalizer that flattens it to one
line and backslash-escapes Markdown and HTML syntax; only text the machine
built itself (the `blockquote` filter's output) is trusted as-is. The sandbox
and StrictUndefined make a template mistake an error, never a silent blank.

Any failure, whether a missing file, a syntax error, an undefined name or a
broken marker pair, raises TemplateError naming the template file and line,
before a single character is returned, so callers never store half a document.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
import structlog
from jinja2.sandbox import ImmutableSandboxedEnvironment

from service.domain.rca import stamp
from service.domain.rca_markdown import escape_inline, structure_problems

log = structlog.get_logger(__name__)


class TemplateError(Exception):
    """A template cannot produce a document; the message names the file and, when known, the line."""

    def __init__(self, template: str, message: str, line: int | None = None) -> None:
        where = f"{template}, line {line}" if line is not None else template
        super().__init__(f"RCA template {where}: {message}")
        self.template = template
        self.line = line


class Trusted(str):
    """Markdown assembled by our own filters from escaped parts; the finalizer passes it through."""

    __slots__ = ()


def markdown_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Trusted):
        return value
    if isinstance(value, datetime):
        return stamp(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape_inline(str(value))


def blockquote(value: object) -> Trusted:
    """Multi-line user text (a description) as a quote, each line escaped so none can become structure."""
    text = "" if value is None else str(value)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Trusted("\n".join(f"> {escape_inline(line)}".rstrip() for line in lines))


def link(url: object, label: object) -> Trusted:
    """`[label](url)` for an http(s) URL; anything else is shown as escaped text, never as a link."""
    text = "" if url is None else str(url).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in text for c in " ()<>"):
        return Trusted(escape_inline(text or str(label)))
    return Trusted(f"[{escape_inline(str(label))}]({text})")


class MarkdownTemplates:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(directory), encoding="utf-8"),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            finalize=markdown_value,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=True,
        )
        self._env.filters["blockquote"] = blockquote
        self._env.filters["link"] = link

    def _relative(self, filename: str | None, fallback: str) -> str:
        if not filename:
            return fallback
        try:
            return Path(filename).resolve().relative_to(self.directory.resolve()).as_posix()
        except ValueError:
            return fallback

    def _runtime_location(self, exc: BaseException, name: str) -> tuple[str, int | None]:
        """Jinja rewrites tracebacks so template frames carry the template's file and line."""
        root = self.directory.resolve()
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename and Path(frame.filename).resolve().is_relative_to(root):
                return self._relative(frame.filename, name), frame.lineno
        return name, None

    def _load(self, name: str) -> jinja2.Template:
        try:
            return self._env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                self._relative(exc.filename, exc.name or name), exc.message or "syntax error", exc.lineno
            ) from None
        except jinja2.TemplateNotFound as exc:
            missing = exc.name if isinstance(exc.name, str) else name
            raise TemplateError(missing, f"not found in {self.directory}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(name, f"cannot be read ({type(exc).__name__})") from None

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        template = self._load(name)
        try:
            text = template.render(dict(context))
        except TemplateError:
            raise
        except jinja2.TemplateSyntaxError as exc:  # an {% include %} with broken syntax
            raise TemplateError(
                self._relative(exc.filename, exc.name or name), exc.message or "syntax error", exc.lineno
            ) from None
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(name, f"includes {exc.name!r}, which is not in {self.directory}") from None
        except Exception as exc:  # noqa: BLE001 - synchronous; any error in a person's template becomes a TemplateError
            where, line = self._runtime_location(exc, name)
            log.warning("rca_template_failed", template=where, line=line, error=type(exc).__name__)
            raise TemplateError(where, f"{type(exc).__name__}: {exc}", line) from None
        problems = structure_problems(text)
        if problems:
            raise TemplateError(name, "produces broken incidentd markers: " + "; ".join(problems))
        return text

    def check(self, names: Iterable[str]) -> list[str]:
        """Compile each template (no rendering); the messages are what `incidentd check` should print."""
        errors: list[str] = []
        for name in names:
            try:
                self._load(name)
            except TemplateError as exc:
                errors.append(str(exc))
        return errors

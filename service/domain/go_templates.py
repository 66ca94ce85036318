"""A small, safe evaluator for the Go-template subset Prometheus alert annotations use.

Prometheus rule files carry annotations such as
`{{ $labels.instance }} is at {{ $value | humanizePercentage }}`. We render them
ourselves rather than through a general template engine: the template text comes
from the rules directory, the data (label values, the sample value) from the
monitored systems, and neither may run code. What is supported: text, comments,
`{{-`/`-}}` trimming, `$labels.NAME`, `$value`, `.Labels`/`.Value`, string and
number literals, pipelines and parentheses, and the functions in FUNCTIONS.
Anything else (`if`, `range`, `query`, variables) is refused when the rule file
is checked, with the reason, instead of rendering something wrong at 3 a.m.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from service.domain.go_numbers import (
    go_float,
    humanize,
    humanize1024,
    humanize_duration,
    humanize_percentage,
)

Value = str | float | int | bool | Mapping[str, str]


class TemplateProblem(ValueError):
    """A template that cannot be compiled or rendered; the message says what and where in the text."""


@dataclass(frozen=True)
class _Var:
    path: tuple[str, ...]  # ("$labels", "instance"), ("$value",), (".Labels", "job")


@dataclass(frozen=True)
class _Lit:
    value: Value


@dataclass(frozen=True)
class _Func:
    name: str


@dataclass(frozen=True)
class _Pipeline:
    commands: tuple[tuple[_Var | _Lit | _Func | _Pipeline, ...], ...]


Node = str | _Pipeline


def _printf(fmt: object, *args: Value) -> str:
    return go_sprintf(str(fmt), args)


def _re_replace_all(pattern: object, replacement: object, text: object) -> str:
    repl = re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", str(replacement))
    return re.sub(str(pattern), repl, str(text))


def _strip_port(host: object) -> str:
    text = str(host)
    if text.startswith("["):
        return text[1 : text.index("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


FUNCTIONS: dict[str, Callable[..., Value]] = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizePercentage": humanize_percentage,
    "humanizeDuration": humanize_duration,
    "printf": _printf,
    "toUpper": lambda s: str(s).upper(),
    "toLower": lambda s: str(s).lower(),
    "title": lambda s: str(s).title(),
    "stripPort": _strip_port,
    "stripDomain": lambda s: _strip_port(s).split(".", 1)[0] if ":" not in _strip_port(s) else str(s),
    "reReplaceAll": _re_replace_all,
    "match": lambda pattern, text: re.search(str(pattern), str(text)) is not None,
    "safeHtml": str,
    "index": lambda m, key: m.get(str(key), "") if isinstance(m, Mapping) else "",
}
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
_QUERYING = {"query", "first", "label", "value", "sortByLabel", "strvalue", "args", "tmpl"}
_VARIABLES = {"$labels": ".Labels", "$value": ".Value", "$externalLabels": ".ExternalLabels",
              "$externalURL": ".ExternalURL"}  # fmt: skip
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    |(?P<var>\$[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)|(?P<field>\.(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)?)
    |(?P<ident>[A-Za-z_]\w*)|(?P<punct>[|()])|(?P<assign>:?=))""",
    re.VERBOSE,
)
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)


def _unquote(text: str) -> str:
    body = text[1:-1]
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), "\\" + m.group(1)), body)


def _parse_pipeline(source: str, tokens: list[tuple[str, str]], position: int) -> tuple[_Pipeline, int]:
    commands: list[tuple[_Var | _Lit | _Func | _Pipeline, ...]] = []
    current: list[_Var | _Lit | _Func | _Pipeline] = []
    while position < len(tokens):
        kind, text = tokens[position]
        position += 1
        if kind == "punct" and text == ")":
            position -= 1
            break
        if kind == "punct" and text == "|":
            if not current:
                raise TemplateProblem(f"missing command before | in {{{{ {source} }}}}")
            commands.append(tuple(current))
            current = []
        elif kind == "punct" and text == "(":
            inner, position = _parse_pipeline(source, tokens, position)
            if position >= len(tokens) or tokens[position][1] != ")":
                raise TemplateProblem(f"unclosed ( in {{{{ {source} }}}}")
            position += 1
            current.append(inner)
        elif kind in ("str", "raw"):
            current.append(_Lit(_unquote(text) if kind == "str" else text[1:-1]))
        elif kind == "num":
            current.append(_Lit(float(text) if any(c in text for c in ".eE") else int(text)))
        elif kind == "var":
            head, *rest = text.split(".")
            if head not in _VARIABLES:
                raise TemplateProblem(f"unknown variable {head} (known: {', '.join(_VARIABLES)})")
            current.append(_Var((_VARIABLES[head], *rest)))
        elif kind == "field":
            parts = [p for p in text.split(".") if p]
            if parts and f".{parts[0]}" not in _VARIABLES.values():
                raise TemplateProblem(f"unknown field .{parts[0]} (known: .Labels, .Value)")
            current.append(_Var((f".{parts[0]}", *parts[1:])) if parts else _Var((".",)))
        elif kind == "ident":
            current.append(_Func(_known_function(text)))
        else:
            raise TemplateProblem("variables cannot be declared in annotations; use $labels and $value")
    if current:
        commands.append(tuple(current))
    if not commands:
        raise TemplateProblem("empty action {{ }}")
    return _Pipeline(tuple(commands)), position


def _known_function(name: str) -> str:
    if name in _KEYWORDS:
        raise TemplateProblem(f"{{{{ {name} }}}} is not supported in annotations (only values and functions)")
    if name in _QUERYING:
        raise TemplateProblem(f"{name} is not supported: incidentd does not run queries from templates")
    if name in {"true", "false"}:
        return name
    if name not in FUNCTIONS:
        raise TemplateProblem(f"unknown function {name!r} (supported: {', '.join(sorted(FUNCTIONS))})")
    return name


def _tokens(source: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while source[position:].strip():
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            raise TemplateProblem(f"cannot read {source[position:].strip()[:30]!r} in {{{{ {source} }}}}")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


@lru_cache(maxsize=4096)
def compile_template(text: str) -> tuple[Node, ...]:
    """Parse once (cached: the same annotation renders for every alert of a rule)."""
    nodes: list[Node] = []
    position = 0
    for match in _ACTION.finditer(text):
        literal = text[position : match.start()]
        if match.group(1):
            literal = literal.rstrip()
        nodes.append(literal)
        body = match.group(2).strip()
        if body.startswith("/*") and body.endswith("*/"):
            pass
        else:
            tokens = _tokens(body)
            pipeline, end = _parse_pipeline(body, tokens, 0)
            if end != len(tokens):
                raise TemplateProblem(f"unexpected ) in {{{{ {body} }}}}")
            nodes.append(pipeline)
        position = match.end()
        if match.group(3):
            rest = text[position:]
            position += len(rest) - len(rest.lstrip())
    tail = text[position:]
    if "{{" in tail or "}}" in tail:
        raise TemplateProblem("unbalanced {{ }} in template")
    nodes.append(tail)
    return tuple(node for node in nodes if node != "")


def template_problem(text: str) -> str | None:
    try:
        compile_template(text)
    except TemplateProblem as exc:
        return str(exc)
    return None


def _lookup(var: _Var, data: Mapping[str, Value]) -> Value:
    value: Value = data.get(var.path[0], "")
    for part in var.path[1:]:
        value = value.get(part, "") if isinstance(value, Mapping) else ""
    return value


def _run(pipeline: _Pipeline, data: Mapping[str, Value]) -> Value:
    piped: Value | None = None
    for command in pipeline.commands:
        head, *args = command
        if isinstance(head, _Func) and head.name not in {"true", "false"}:
            values = [_operand(arg, data) for arg in args]
            if piped is not None:
                values.append(piped)
            try:
                piped = FUNCTIONS[head.name](*values)
            except (TypeError, ValueError, re.error) as exc:
                raise TemplateProblem(f"{head.name}: {exc}") from None
        else:
            if args or piped is not None:
                raise TemplateProblem("only a function can take arguments or a piped value")
            piped = _operand(head, data)
    assert piped is not None
    return piped


def _operand(node: _Var | _Lit | _Func | _Pipeline, data: Mapping[str, Value]) -> Value:
    if isinstance(node, _Var):
        return _lookup(node, data)
    if isinstance(node, _Lit):
        return node.value
    if isinstance(node, _Pipeline):
        return _run(node, data)
    if node.name in {"true", "false"}:
        return node.name == "true"
    raise TemplateProblem(f"{node.name} needs arguments here")


def go_text(value: Value) -> str:
    """How text/template prints a value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{value[k]}" for k in sorted(value)) + "]"
    return str(value)


def render_template(text: str, labels: Mapping[str, str], value: float | None) -> str:
    """Fill one annotation. A template that fails renders as Prometheus does: its error, in the text."""
    data: dict[str, Value] = {
        ".Labels": dict(labels),
        ".Value": value if value is not None else float("nan"),
        ".ExternalLabels": {},
        ".ExternalURL": "",
    }
    try:
        return "".join(
            node if isinstance(node, str) else go_text(_run(node, data)) for node in compile_template(text)
        )
    except TemplateProblem as exc:
        return f"<error expanding template: {exc}>"


_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


def go_sprintf(fmt: str, args: tuple[Value, ...]) -> str:
    """`fmt.Sprintf` for the verbs templates use (%s %v %d %f %e %g %q %x), Go's errors for the rest."""
    out: list[str] = []
    position = 0
    remaining = list(args)
    for match in _VERB.finditer(fmt):
        out.append(fmt[position : match.start()])
        position = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if not remaining:
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = remaining.pop(0)
        spec = f"%{flags}{width or ''}{'.' + precision if precision is not None else ''}"
        out.append(_format_one(spec, verb, arg))
    out.append(fmt[position:])
    if remaining:
        out.append("%!(EXTRA " + ", ".join(f"{_go_type(a)}={go_text(a)}" for a in remaining) + ")")
    return "".join(out)


def _go_type(arg: Value) -> str:
    return {bool: "bool", int: "int", float: "float64", str: "string"}.get(type(arg), "map[string]string")


def _format_one(spec: str, verb: str, arg: Value) -> str:
    if verb == "v" or (verb == "s" and isinstance(arg, str)):
        return (spec + "s") % go_text(arg)
    if verb == "q" and isinstance(arg, str):
        return (spec + "s") % ('"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"')
    if isinstance(arg, float) and verb in "eEfFgG":
        return (spec + verb) % arg
    if isinstance(arg, int) and not isinstance(arg, bool) and verb in "dxXo":
        return (spec + verb) % arg
    if isinstance(arg, int) and not isinstance(arg, bool) and verb in "eEfFgG":
        return f"%!{verb}(int={arg})"
    return f"%!{verb}({_go_type(arg)}={go_text(arg)})"

"""`label_replace` and `label_join` as Prometheus 2.42 computes them, for promql_eval.

The regular expression is anchored at both ends; `$1`, `${1}`, `$name` and
`${name}` in the replacement expand as Go's Regexp.Expand does (a name runs as
far as letters, digits and `_` go, so `$1x` is the group named `1x`: write
`${1}x`). An empty result removes the label. The metric name is kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.domain.promql_lex import Unsupported

Labels = dict[str, str]
Vector = list[tuple[Labels, float]]
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REFERENCE = re.compile(r"\$(?:\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+)|(\$))")


def _expand(template: str, match: re.Match[str]) -> str:
    def one(ref: re.Match[str]) -> str:
        if ref.group(3):
            return "$"
        name = ref.group(1) if ref.group(1) is not None else ref.group(2)
        if name.isdigit():
            index = int(name)
            return (match.group(index) or "") if index <= (match.re.groups or 0) else ""
        return (match.groupdict().get(name) or "") if name in match.re.groupindex else ""

    return _REFERENCE.sub(one, template)


def _set(labels: Labels, name: str, value: str) -> Labels:
    out = dict(labels)
    if value:
        out[name] = value
    else:
        out.pop(name, None)
    return out


def label_replace(rows: Vector, dst: str, replacement: str, src: str, regex: str) -> Vector:
    try:
        pattern = re.compile(f"^(?:{regex})$", re.DOTALL)
    except re.error as exc:
        raise Unsupported(f"invalid regular expression in label_replace(): {regex!r}: {exc}") from None
    if not _LABEL.match(dst):
        raise Unsupported(f"invalid destination label name in label_replace(): {dst!r}")
    out: Vector = []
    for labels, value in rows:
        match = pattern.match(labels.get(src, ""))
        out.append((_set(labels, dst, _expand(replacement, match)) if match else dict(labels), value))
    return out


def label_join(rows: Vector, dst: str, separator: str, sources: Sequence[str]) -> Vector:
    if not _LABEL.match(dst):
        raise Unsupported(f"invalid destination label name in label_join(): {dst!r}")
    return [(_set(labels, dst, separator.join(labels.get(s, "") for s in sources)), v) for labels, v in rows]

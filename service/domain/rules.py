"""The threshold-rule model: what rules/*.yaml decode into (see rules/README.md).

A rule is one row of a runbook's threshold table (e.g. 004_2522b3a81675c108.txt,
"Alert Thresholds": `API Response Time | > 1.5s | > 3s`): a signal, a direction, a warning
and a critical level, how long the breach must hold, and the severity each level pages at. Everything here is
already validated and in base units (fractions, seconds, bytes), so evaluation
never parses text.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta

import msgspec

from service.domain.go_templates import render_template
from service.domain.severity import Severity
from service.domain.units import Quantity, UnitKind, format_quantity

DEFAULT_GROUP_BY: tuple[str, ...] = ("alertname", "service")
# Alertmanager's spelling for "do not group: every series is its own incident".
GROUP_BY_ALL = "..."
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LABEL_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Comparison(enum.StrEnum):
    """`above` for things that hurt when they rise (latency), `below` for things that hurt when they fall."""

    ABOVE = "above"
    BELOW = "below"

    @property
    def symbol(self) -> str:
        return ">" if self is Comparison.ABOVE else "<"

    def breaches(self, value: float, threshold: float) -> bool:
        return value > threshold if self is Comparison.ABOVE else value < threshold


class Level(enum.StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return 2 if self is Level.CRITICAL else 1


class Matcher(msgspec.Struct, frozen=True):
    label: str
    op: str  # one of = != =~ !~ (PromQL's matchers)
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit


class Selector(msgspec.Struct, frozen=True):
    """`name{label="v", other=~"5.."}`: a metric (or probe) name and the series to keep."""

    name: str
    matchers: tuple[Matcher, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def __str__(self) -> str:
        if not self.matchers:
            return self.name
        inner = ", ".join(f'{m.label}{m.op}"{m.value}"' for m in self.matchers)
        return f"{self.name}{{{inner}}}"


_SELECTOR = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*$", re.DOTALL)
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def _unquote(value: str) -> str:
    return re.sub(r'\\([\\"])', r"\1", value)


def parse_selector(text: str) -> Selector:
    match = _SELECTOR.match(text)
    if match is None:
        raise ValueError(f'cannot read selector {text!r}: expected name or name{{label="value"}}')
    name, body = match.group(1), match.group(2) or ""
    matchers: list[Matcher] = []
    position = 0
    while body[position:].strip():
        part = _MATCHER.match(body, position)
        if part is None:
            raise ValueError(f"cannot read label matcher {body[position:].strip()!r} in {text!r}")
        label, op, value = part.group(1), part.group(2), _unquote(part.group(3))
        if op in {"=~", "!~"}:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {value!r} for {label}: {exc}") from None
        matchers.append(Matcher(label, op, value))
        position = part.end()
    return Selector(name, tuple(matchers))


class SignalKind(enum.StrEnum):
    GAUGE = "gauge"  # the sample value as scraped
    RATE = "rate"  # per-second increase of a counter over `window`
    RATIO = "ratio"  # rate(numerator) / rate(denominator): error rate, availability
    QUANTILE = "quantile"  # histogram_quantile over `window`: p95 latency
    PROBE = "probe"  # a SQL probe's value column, one series per row
    PROMQL = "promql"  # an instant query against a Prometheus server


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """Where a rule's numbers come from and how they are derived; the collectors do the deriving."""

    kind: SignalKind
    source: str
    metric: Selector | None = None  # gauge, rate, quantile (histogram name), probe (probe name + row filter)
    numerator: Selector | None = None
    denominator: Selector | None = None
    window: timedelta | None = None
    quantile: float | None = None
    # Labels kept after summing (rate, ratio, quantile); None keeps every label (gauge, probe, promql).
    by: tuple[str, ...] | None = None
    query: str | None = None
    unit: UnitKind | None = None  # what the derived values measure, when it is known


class PrometheusAlert(msgspec.Struct, frozen=True, kw_only=True):
    """A rule from a Prometheus-format file: every series its `expr` returns is an alert at `level`.

    `alertname` is the name Prometheus gives the alert; the rule's `name` is its identity here, which
    differs only for the warning/critical pairs that share one alert name in a group."""

    alertname: str
    level: Level


class AbsentCheck(msgspec.Struct, frozen=True, kw_only=True):
    """Opt-in: the rule's signal matching no series for `for_` raises an alert that says so."""

    for_: timedelta
    severity: Severity
    line: int = 0


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    group: str
    signal: Signal
    comparison: Comparison
    unit: UnitKind
    warning: Quantity | None
    critical: Quantity | None
    for_: timedelta = msgspec.field(name="for")
    keep_firing_for: timedelta
    severity: dict[Level, Severity]
    labels: dict[str, str]
    annotations: dict[str, str]
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    auto_resolve: bool = False
    enabled: bool = True
    interval: timedelta = timedelta(minutes=1)
    file: str = ""
    line: int = 0
    prometheus: PrometheusAlert | None = None
    absent: AbsentCheck | None = None
    absence_of: str | None = None  # set on the synthetic "series missing" rule: the rule it watches

    @property
    def alertname(self) -> str:
        return self.prometheus.alertname if self.prometheus is not None else self.name

    def level_for(self, value: float | None) -> Level | None:
        """The worst level the value breaches; missing and NaN values breach nothing."""
        if self.prometheus is not None:
            return self.prometheus.level if value is not None else None
        if value is None or math.isnan(value):
            return None
        if self.critical is not None and self.comparison.breaches(value, self.critical.value):
            return Level.CRITICAL
        if self.warning is not None and self.comparison.breaches(value, self.warning.value):
            return Level.WARNING
        return None

    def threshold(self, level: Level) -> Quantity | None:
        return self.critical if level is Level.CRITICAL else self.warning

    def severity_for(self, level: Level) -> Severity:
        return self.severity[level]

    @property
    def levels(self) -> tuple[Level, ...]:
        return tuple(lv for lv in (Level.WARNING, Level.CRITICAL) if self.threshold(lv) is not None)


class RuleGroup(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    interval: timedelta
    enabled: bool
    rules: tuple[Rule, ...]
    file: str = ""
    line: int = 0


class ScrapeAuth(msgspec.Struct, frozen=True, kw_only=True):
    """Where a scrape's credentials are: only names of variables and files, never the secrets."""

    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None


class TlsOptions(msgspec.Struct, frozen=True, kw_only=True):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False


class ScrapeTarget(msgspec.Struct, frozen=True, kw_only=True):
    """A scrape source: one /metrics URL (`url`, or `url_env` naming a variable holding it), or many
    `host:port` targets listed in `targets` and in Prometheus `file_sd` files, scraped alike."""

    name: str
    url: str | None
    url_env: str | None
    interval: timedelta
    timeout: timedelta
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    targets: tuple[str, ...] = ()
    file_sd: tuple[str, ...] = ()  # absolute paths or globs, resolved when the rule files were read
    scheme: str = "http"
    metrics_path: str = "/metrics"
    job: str | None = None  # the `job` label; the source's name when not given
    honor_labels: bool = False
    auth: ScrapeAuth | None = None
    tls: TlsOptions | None = None

    @property
    def job_name(self) -> str:
        return self.job or self.name

    @property
    def many(self) -> bool:
        return bool(self.targets or self.file_sd)


class PrometheusServer(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    url: str | None
    url_env: str | None
    timeout: timedelta


SELF_DATABASE = "self"


class SqlProbe(msgspec.Struct, frozen=True, kw_only=True):
    """A query run on a schedule: one row per series, `value_column` the number, other columns labels.

    `database` is `self` (incidentd's own PostgreSQL) or the name of an environment
    variable holding a DSN, so no secret is ever written into a rule file.
    """

    name: str
    database: str
    query: str
    value_column: str
    unit: UnitKind
    timeout: timedelta
    interval: timedelta | None = None
    requires_extension: str | None = None


class Sources(msgspec.Struct, frozen=True, kw_only=True):
    scrape: tuple[ScrapeTarget, ...] = ()
    prometheus: tuple[PrometheusServer, ...] = ()
    sql: tuple[SqlProbe, ...] = ()

    def kind_of(self, name: str) -> str | None:
        for kind, entries in (("scrape", self.scrape), ("prometheus", self.prometheus), ("sql", self.sql)):
            if any(entry.name == name for entry in entries):
                return kind
        return None

    def names(self) -> list[str]:
        return sorted(
            [*(s.name for s in self.scrape), *(s.name for s in self.prometheus), *(s.name for s in self.sql)]
        )

    def probe(self, name: str) -> SqlProbe | None:
        return next((p for p in self.sql if p.name == name), None)


class RuleSet(msgspec.Struct, frozen=True, kw_only=True):
    groups: tuple[RuleGroup, ...] = ()
    sources: Sources = Sources()
    warnings: tuple[str, ...] = ()  # `file:line: field: warning: ...` lines that did not refuse the set

    def rules(self) -> Iterator[Rule]:
        for group in self.groups:
            yield from group.rules

    def enabled_rules(self) -> Iterator[Rule]:
        return (rule for rule in self.rules() if rule.enabled)

    def rule(self, name: str) -> Rule:
        for rule in self.rules():
            if rule.name == name:
                return rule
        raise KeyError(f"no rule named {name!r}")


# Annotation templates: `{{ value }}`, `{{ labels.service }}`. Deliberately not Jinja: rule files are
# data, and a template that could call methods would be code loaded from a config directory.
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
TEMPLATE_FIELDS = ("alertname", "value", "threshold", "level", "severity", "comparison", "for", "group")


def template_problems(template: str) -> list[str]:
    problems: list[str] = []
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name in TEMPLATE_FIELDS:
            continue
        if name.startswith("labels.") and LABEL_PATTERN.match(name.removeprefix("labels.")):
            continue
        known = ", ".join(TEMPLATE_FIELDS)
        problems.append(f"unknown placeholder {{{{ {name} }}}} (known: {known}, labels.<name>)")
    stripped = _PLACEHOLDER.sub("", template)
    if "{{" in stripped or "}}" in stripped:
        problems.append("unbalanced {{ }} in template")
    return problems


def render_annotations(
    rule: Rule, labels: Mapping[str, str], value: float | None, level: Level | None
) -> dict[str, str]:
    """Fill the rule's annotation templates for one alert; missing labels render as empty text."""
    if rule.prometheus is not None:
        return {key: render_template(text, labels, value) for key, text in rule.annotations.items()}
    threshold = rule.threshold(level) if level is not None else None
    context = {
        "alertname": rule.name,
        "value": format_quantity(value, rule.unit) if value is not None else "(no data)",
        "threshold": threshold.text if threshold is not None else "",
        "level": level.value if level is not None else "",
        "severity": rule.severity_for(level).label if level is not None else "",
        "comparison": rule.comparison.value,
        "for": _short(rule.for_),
        "group": rule.group,
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("labels."):
            return labels.get(name.removeprefix("labels."), "")
        return context.get(name, "")

    return {key: _PLACEHOLDER.sub(fill, template) for key, template in rule.annotations.items()}


def _short(delta: timedelta) -> str:
    return format_quantity(delta.total_seconds(), UnitKind.DURATION) if delta else "0s"

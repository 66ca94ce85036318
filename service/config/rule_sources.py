"""Decoding the `sources:` blocks of rule files: scrape targets, Prometheus servers, SQL probes.

Sources are declared once (in any file of the set, usually rules/sources.yaml)
and shared by name. Connection strings never appear in a file: a probe's
`database` is `self` or the name of an environment variable holding the DSN,
and a URL can likewise come from `url_env`. A source whose variable is unset is
simply not collected, so packs for the monitored application ship inert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from service.config.fields import Scalar, duration
from service.config.scrape_options import ENV_NAME, ScrapeOptions, check_auth, check_targets, check_tls
from service.config.yaml_lines import DataPath, Report, decode
from service.domain.rules import (
    LABEL_PATTERN,
    NAME_PATTERN,
    SELF_DATABASE,
    PrometheusServer,
    ScrapeTarget,
    Sources,
    SqlProbe,
)
from service.domain.units import parse_kind


class _Scrape(ScrapeOptions, kw_only=True):
    name: str
    url: str | None = None
    url_env: str | None = None
    interval: Scalar = "15s"
    timeout: Scalar = "5s"
    labels: dict[str, str] = msgspec.field(default_factory=dict)


class _Prometheus(msgspec.Struct, kw_only=True):
    name: str
    url: str | None = None
    url_env: str | None = None
    timeout: Scalar = "10s"


class _Sql(msgspec.Struct, kw_only=True):
    name: str
    database: str
    query: str
    value_column: str = "value"
    unit: str = "count"
    timeout: Scalar = "5s"
    interval: Scalar | None = None
    requires_extension: str | None = None


class _Sources(msgspec.Struct, kw_only=True):
    scrape: list[_Scrape] = msgspec.field(default_factory=list)
    prometheus: list[_Prometheus] = msgspec.field(default_factory=list)
    sql: list[_Sql] = msgspec.field(default_factory=list)


def _url(url: str | None, url_env: str | None, path: DataPath, report: Report) -> bool:
    if (url is None) == (url_env is None):
        report.error(path, "give exactly one of url or url_env", line_of=path)
        return False
    if url is not None and not url.startswith(("http://", "https://")):
        report.error((*path, "url"), "expected an http:// or https:// URL")
        return False
    if url_env is not None and not ENV_NAME.match(url_env):
        report.error(
            (*path, "url_env"),
            f"expected an environment variable name such as APP_METRICS_URL, got {url_env!r}",
        )
        return False
    return True


def _database(raw: str, path: DataPath, report: Report) -> bool:
    if raw == SELF_DATABASE or ENV_NAME.match(raw):
        return True
    if "://" in raw or "=" in raw:
        # Never echo it: a DSN may carry a password.
        hint = "the name of an environment variable holding the DSN (e.g. APP_DATABASE_URL)"
        report.error(path, f"write {hint}, not the DSN itself")
    else:
        report.error(
            path, f"expected self or an environment variable name such as APP_DATABASE_URL, got {raw!r}"
        )
    return False


class _Names:
    def __init__(self) -> None:
        self.seen: dict[str, str] = {}
        self.attempted: set[str] = set()

    def claim(self, name: str, path: DataPath, report: Report) -> bool:
        self.attempted.add(name)
        if not NAME_PATTERN.match(name):
            report.error((*path, "name"), f"source names are letters, digits and _, got {name!r}")
            return False
        if name in self.seen:
            report.error((*path, "name"), f"duplicate source name {name!r} (first at {self.seen[name]})")
            return False
        self.seen[name] = f"{report.doc.file}:{report.doc.line(path)}"
        return True


def build_sources(blocks: Sequence[tuple[Report, dict[str, Any]]]) -> tuple[Sources, frozenset[str]]:
    """The valid sources, and the names of declared sources that are not: a rule naming one of those
    says nothing more, its source's own problem is the one to fix."""
    scrape: list[ScrapeTarget] = []
    prometheus: list[PrometheusServer] = []
    sql: list[SqlProbe] = []
    names = _Names()
    for report, raw in blocks:
        decoded = decode(raw, _Sources, ("sources",), report)
        if decoded is None:
            continue
        for index, entry in enumerate(decoded.scrape):
            target = _scrape(entry, ("sources", "scrape", index), report, names)
            if target is not None:
                scrape.append(target)
        for index, server in enumerate(decoded.prometheus):
            path = ("sources", "prometheus", index)
            ok = names.claim(server.name, path, report) and _url(server.url, server.url_env, path, report)
            timeout = duration(server.timeout, (*path, "timeout"), report, positive=True)
            if ok and timeout is not None:
                prometheus.append(
                    PrometheusServer(
                        name=server.name, url=server.url, url_env=server.url_env, timeout=timeout
                    )
                )
        for index, probe in enumerate(decoded.sql):
            built = _sql(probe, ("sources", "sql", index), report, names)
            if built is not None:
                sql.append(built)
    result = Sources(scrape=tuple(scrape), prometheus=tuple(prometheus), sql=tuple(sql))
    return result, frozenset(names.attempted - set(result.names()))


def _scrape(entry: _Scrape, path: DataPath, report: Report, names: _Names) -> ScrapeTarget | None:
    ok = names.claim(entry.name, path, report)
    targets, file_sd, listed = check_targets(entry, path, report)
    if entry.targets is None and entry.file_sd is None:
        ok = _url(entry.url, entry.url_env, path, report) and ok
    elif entry.url is not None or entry.url_env is not None:
        report.error(path, "give url, url_env, or targets/file_sd, not both", line_of=path)
        ok = False
    elif not targets and not file_sd:
        report.error(path, "targets and file_sd are both empty: nothing to scrape", line_of=path)
        ok = False
    auth, auth_ok = check_auth(entry, path, report)
    tls, tls_ok = check_tls(entry, path, report)
    ok = ok and listed and auth_ok and tls_ok
    if entry.job is not None and not entry.job.strip():
        report.error((*path, "job"), "must not be empty")
        ok = False
    interval = duration(entry.interval, (*path, "interval"), report, positive=True)
    timeout = duration(entry.timeout, (*path, "timeout"), report, positive=True)
    if interval is not None and timeout is not None and timeout > interval:
        report.error((*path, "timeout"), "must not be longer than interval (scrapes would overlap)")
        ok = False
    for label in entry.labels:
        if not LABEL_PATTERN.match(label):
            report.error((*path, "labels", label), "label names are letters, digits and _")
            ok = False
    if not ok or interval is None or timeout is None:
        return None
    return ScrapeTarget(
        name=entry.name,
        url=entry.url,
        url_env=entry.url_env,
        interval=interval,
        timeout=timeout,
        labels=dict(entry.labels),
        targets=targets,
        file_sd=file_sd,
        scheme=entry.scheme,
        metrics_path=entry.metrics_path,
        job=entry.job,
        honor_labels=entry.honor_labels,
        auth=auth,
        tls=tls,
    )


def _sql(probe: _Sql, path: DataPath, report: Report, names: _Names) -> SqlProbe | None:
    ok = names.claim(probe.name, path, report)
    ok = _database(probe.database, (*path, "database"), report) and ok
    if not probe.query.strip():
        report.error((*path, "query"), "must not be empty")
        ok = False
    if not LABEL_PATTERN.match(probe.value_column):
        report.error((*path, "value_column"), f"expected a column name, got {probe.value_column!r}")
        ok = False
    if probe.requires_extension is not None and not LABEL_PATTERN.match(probe.requires_extension):
        report.error(
            (*path, "requires_extension"), f"expected an extension name, got {probe.requires_extension!r}"
        )
        ok = False
    try:
        unit = parse_kind(probe.unit)
    except ValueError as exc:
        report.error((*path, "unit"), str(exc))
        ok = False
    timeout = duration(probe.timeout, (*path, "timeout"), report, positive=True)
    interval = duration(probe.interval, (*path, "interval"), report, positive=True)
    if probe.interval is not None and interval is None:
        ok = False
    if not ok or timeout is None:
        return None
    return SqlProbe(
        name=probe.name,
        database=probe.database,
        query=probe.query.strip(),
        value_column=probe.value_column,
        unit=unit,
        timeout=timeout,
        interval=interval,
        requires_extension=probe.requires_extension,
    )

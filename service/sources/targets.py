"""The targets of a scrape source and the labels Prometheus would give each: static lists and file_sd files.

A source lists `host:port` targets, points at Prometheus `file_sd` files (JSON
or YAML: a list of `{targets: [...], labels: {...}}`), or both. Each target is
scraped at `scheme://host:port/metrics_path` and its series get `job` and
`instance` (the address) plus the group's and the source's labels, as
Prometheus adds them; with `honor_labels: false` a scraped label that clashes
is kept as `exported_<name>`. A file_sd file is read again when it changes; a
file that stops parsing keeps its last good targets and is reported, as in
Prometheus, so a typo in a targets file never silences every host at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import structlog

from service.config.file_sd import FileSdError, expand_file_sd, parse_file_sd
from service.domain.rules import ScrapeTarget

log = structlog.get_logger(__name__)

_DEFAULT_PORTS = {"http": "80", "https": "443"}


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """One endpoint to scrape: its URL and the labels its series get."""

    url: str
    labels: dict[str, str]  # job, instance, then group and source labels

    @property
    def instance(self) -> str:
        return self.labels.get("instance", "")


def _with_port(address: str, scheme: str) -> str:
    if address.startswith("["):
        return address if "]:" in address else f"{address}:{_DEFAULT_PORTS[scheme]}"
    return address if ":" in address else f"{address}:{_DEFAULT_PORTS[scheme]}"


class TargetFiles:
    """file_sd files of one source, read again when their size or modification time changes."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[float, int]] = {}
        self._groups: dict[Path, list[tuple[list[str], dict[str, str]]]] = {}
        self.errors: dict[Path, str] = {}

    def groups(self, patterns: Sequence[str]) -> list[tuple[list[str], dict[str, str]]]:
        paths = expand_file_sd(patterns)
        for gone in set(self._groups) - set(paths):
            self._groups.pop(gone, None)
            self._seen.pop(gone, None)
            self.errors.pop(gone, None)
        result: list[tuple[list[str], dict[str, str]]] = []
        for path in paths:
            try:
                stat = os.stat(path)
                stamp = (stat.st_mtime, stat.st_size)
            except OSError:
                stamp = (0.0, -1)
            if self._seen.get(path) != stamp:
                self._seen[path] = stamp
                try:
                    self._groups[path] = parse_file_sd(path)
                    if self.errors.pop(path, None) is not None:
                        log.info("file_sd_readable_again", file=str(path))
                except FileSdError as exc:
                    self.errors[path] = str(exc)
                    log.warning("file_sd_unreadable_kept_last_targets", file=str(path), error=str(exc))
            result.extend(self._groups.get(path, []))
        return result


def url_target(source: ScrapeTarget, url: str) -> Target:
    """A source given as one URL is one target; its instance is the URL's host:port (never credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme if parts.scheme in _DEFAULT_PORTS else "http"
    instance = f"{host}:{parts.port or _DEFAULT_PORTS[scheme]}"
    return Target(url=url, labels={"job": source.job_name, "instance": instance, **source.labels})


def listed_targets(
    source: ScrapeTarget, file_groups: Sequence[tuple[list[str], dict[str, str]]]
) -> list[Target]:
    """Static targets first, then file_sd ones; an address listed twice is scraped once (first wins)."""
    groups = [(list(source.targets), {}), *file_groups]
    seen: set[str] = set()
    result: list[Target] = []
    for addresses, labels in groups:
        for address in addresses:
            full = _with_port(address, source.scheme)
            if full in seen:
                continue
            seen.add(full)
            url = f"{source.scheme}://{full}{source.metrics_path}"
            result.append(
                Target(url=url, labels={"job": source.job_name, "instance": full, **labels, **source.labels})
            )
    return result


def attach_labels(
    scraped: Mapping[str, str], target: Mapping[str, str], *, honor_labels: bool
) -> dict[str, str]:
    """A scraped series' labels with the target's, as Prometheus merges them."""
    if honor_labels:
        return {**target, **scraped}
    merged = dict(scraped)
    for name, value in target.items():
        if name in merged and merged[name] != value:
            merged[f"exported_{name}"] = merged[name]
        merged[name] = value
    return merged

"""The many-target and security options of a `sources.scrape` entry: targets, file_sd, auth, TLS.

Secrets never appear in rule files: a password or token is named by an
environment variable (`password_env`, `bearer_token_env`) or a file
(`password_file`, `bearer_token_file`). A secret written inline is refused,
and the error does not repeat it.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

import msgspec

from service.config.file_sd import FileSdError, address_problem, expand_file_sd, parse_file_sd
from service.config.yaml_lines import DataPath, Report
from service.domain.rules import ScrapeAuth, TlsOptions

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
ENV_NAME_HINT = "an environment variable name such as NODE_SCRAPE_TOKEN"


class BasicAuthBlock(msgspec.Struct, kw_only=True):
    username: str
    password: str | None = None  # refused: only here to say so clearly
    password_env: str | None = None
    password_file: str | None = None


class TlsBlock(msgspec.Struct, kw_only=True):
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False


class ScrapeOptions(msgspec.Struct, kw_only=True):
    """Mixed into the scrape entry's struct by rule_sources."""

    targets: list[str] | None = None
    file_sd: list[str] | None = None
    scheme: str = "http"
    metrics_path: str = "/metrics"
    job: str | None = None
    honor_labels: bool = False
    basic_auth: BasicAuthBlock | None = None
    bearer_token: str | None = None  # refused
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    tls_config: TlsBlock | None = None


def _path(raw: str, directory: str) -> str:
    path = Path(raw).expanduser()
    return str(path if path.is_absolute() else Path(directory) / path)


def check_targets(
    entry: ScrapeOptions, path: DataPath, report: Report
) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(targets, absolute file_sd patterns, ok); file_sd files present now are checked as well."""
    ok = True
    for index, address in enumerate(entry.targets or []):
        if (problem := address_problem(address)) is not None:
            report.error((*path, "targets", index), problem)
            ok = False
    patterns: list[str] = []
    for index, raw in enumerate(entry.file_sd or []):
        where = (*path, "file_sd", index)
        named = Path(raw).suffix in {".json", ".yml", ".yaml"} or glob.has_magic(raw)
        if not raw.strip() or not named:
            report.error(where, f"expected a .json, .yml or .yaml file (a * is allowed), got {raw!r}")
            ok = False
            continue
        if glob.has_magic(str(Path(raw).parent)):
            report.error(where, "a glob is allowed in the file name only, as in Prometheus")
            ok = False
            continue
        pattern = _path(raw, report.doc.directory)
        for file in expand_file_sd([pattern]):
            try:
                parse_file_sd(file)
            except FileSdError as exc:
                report.error(where, str(exc))
                ok = False
        patterns.append(pattern)
    if entry.scheme not in {"http", "https"}:
        report.error((*path, "scheme"), f"expected http or https, got {entry.scheme!r}")
        ok = False
    if not entry.metrics_path.startswith("/"):
        report.error((*path, "metrics_path"), f"expected a path starting with /, got {entry.metrics_path!r}")
        ok = False
    return tuple(entry.targets or ()), tuple(patterns), ok


def _secret(
    report: Report, path: DataPath, kind: str, inline: str | None, env: str | None, file: str | None
) -> bool:
    """One secret (`password` or `bearer_token`): named by `<kind>_env` or `<kind>_file`, never inline."""
    ok = True
    noun = "token" if kind == "bearer_token" else kind
    if inline is not None:
        report.error((*path, kind), f"write {kind}_env or {kind}_file: a {noun} in a rule file is readable "
                     "by everyone who can read the rules")  # fmt: skip
        ok = False
    if env and file:
        report.error((*path, f"{kind}_file"), f"give {kind}_env or {kind}_file, not both")
        ok = False
    if env is not None and not ENV_NAME.match(env):
        report.error((*path, f"{kind}_env"), f"expected {ENV_NAME_HINT}, got {env!r}")
        ok = False
    return ok


def check_auth(entry: ScrapeOptions, path: DataPath, report: Report) -> tuple[ScrapeAuth | None, bool]:
    ok = _secret(
        report, path, "bearer_token", entry.bearer_token, entry.bearer_token_env, entry.bearer_token_file
    )
    basic = entry.basic_auth
    if basic is not None:
        where = (*path, "basic_auth")
        ok = (
            _secret(report, where, "password", basic.password, basic.password_env, basic.password_file) and ok
        )
        if entry.bearer_token_env or entry.bearer_token_file:
            report.error(where, "give basic_auth or a bearer token, not both")
            ok = False
    if not (basic or entry.bearer_token_env or entry.bearer_token_file):
        return None, ok
    directory = report.doc.directory
    return (
        ScrapeAuth(
            username=basic.username if basic else None,
            password_env=basic.password_env if basic else None,
            password_file=_path(basic.password_file, directory) if basic and basic.password_file else None,
            bearer_token_env=entry.bearer_token_env,
            bearer_token_file=_path(entry.bearer_token_file, directory) if entry.bearer_token_file else None,
        ),
        ok,
    )


def check_tls(entry: ScrapeOptions, path: DataPath, report: Report) -> tuple[TlsOptions | None, bool]:
    tls = entry.tls_config
    if tls is None:
        return None, True
    if bool(tls.cert_file) != bool(tls.key_file):
        report.error((*path, "tls_config"), "give cert_file and key_file together (a client certificate)")
        return None, False
    directory = report.doc.directory
    return (
        TlsOptions(
            ca_file=_path(tls.ca_file, directory) if tls.ca_file else None,
            cert_file=_path(tls.cert_file, directory) if tls.cert_file else None,
            key_file=_path(tls.key_file, directory) if tls.key_file else None,
            server_name=tls.server_name,
            insecure_skip_verify=tls.insecure_skip_verify,
        ),
        True,
    )

"""incidentd command line: serve | migrate | check | users | rules check | rules test | report daily."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from service.observability import configure_logging
from service.settings import Settings, SettingsError, load_settings

log = structlog.get_logger("incidentd")


def _resolve_database(settings: Settings) -> tuple[str, Any]:
    """DATABASE_URL when set; otherwise an embedded PostgreSQL under the data directory."""
    if settings.database_url:
        return settings.database_url, None
    from service.adapters.postgres.embedded import start_embedded

    data = settings.data_dir / "postgres"
    log.info("embedded_postgres_starting", data_dir=str(data))
    uri, handle = start_embedded(data)
    return uri, handle


FIRST_PASSWORD_FILE = "first-admin-password"  # noqa: S105 - a file name, not a password


def _tell_first_password(settings: Settings, user: str, password: str) -> None:
    """On a terminal the password is shown once; otherwise stdout is somebody's log collector, so it goes
    to a file only this user can read, and the output names the file, never the password."""
    then = (
        f"Log in at {settings.public_url}/login (you will be asked to choose your own password),"
        " then add people with `incidentd users add NAME`."
    )
    if sys.stdout.isatty():
        print(
            f"\nCreated the first console account: user '{user}', password {password}\n{then}\n", flush=True
        )
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / FIRST_PASSWORD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(password + "\n")
    print(f"\nCreated the first console account '{user}'; its password is in {path}.\n{then}\n", flush=True)


def _refusals(settings: Settings) -> list[str]:
    """What stops `serve` before it touches the database: channels, their targets and their settings."""
    from service.notifications.channels.configuration import channel_problems

    return channel_problems(settings, base=Path.cwd())


def _serve(settings: Settings) -> int:
    import uvicorn

    from service.app import build_app
    from service.config.fields import PolicyError

    refused = _refusals(settings)
    for problem in refused:
        print(f"incidentd: cannot start: {problem}", file=sys.stderr)
    if refused:
        return 2
    url, handle = _resolve_database(settings)
    from service.web.users_cli import FIRST_ADMIN, ensure_first_admin

    password = asyncio.run(ensure_first_admin(url))
    if password is not None:
        _tell_first_password(settings, FIRST_ADMIN, password)
    try:
        app = build_app(settings, url)
    except PolicyError as exc:
        if handle is not None:
            handle.cleanup()
        for found in exc.problems:
            print(f"incidentd: cannot start: {found}", file=sys.stderr)
        return 2
    log.info("serving", host=settings.host, port=settings.port, public_url=settings.public_url)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=False,  # the console decides whom to believe (INCIDENTD_AUTH_PROXY_FROM)
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it; as KeyboardInterrupt it reaches the
    # `finally` below, so an embedded PostgreSQL is stopped however the service is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.run()
    except KeyboardInterrupt:
        log.info("stopped")
    finally:
        if handle is not None:
            handle.cleanup()
    return 0


async def _migrate(url: str) -> list[int]:
    import asyncpg

    from service.adapters.postgres.database import _init_connection
    from service.adapters.postgres.migrations import migrate

    conn = await asyncpg.connect(url)
    try:
        await _init_connection(conn)
        return [m.version for m in await migrate(conn)]
    finally:
        await conn.close()


def _cmd_migrate(settings: Settings) -> int:
    url, handle = _resolve_database(settings)
    try:
        applied = asyncio.run(_migrate(url))
    finally:
        if handle is not None:
            handle.cleanup()
    print(f"applied migrations: {applied}" if applied else "schema up to date")
    return 0


def _cmd_check(settings: Settings) -> int:
    """Validate everything that can be validated without starting: settings, policy, rules, templates."""
    from service.config.fields import PolicyError
    from service.config.policy_files import load_severity_policy

    problems: list[str] = []
    try:
        load_severity_policy(settings.policies / "severities.yaml")
    except PolicyError as exc:
        problems.append(str(exc))
    from service.config.rca_policy_files import load_rca_policy
    from service.rca.templates import MarkdownTemplates

    try:
        rca_policy = load_rca_policy(settings.policies / "rca.yaml")
        problems.extend(MarkdownTemplates(settings.templates_dir).check(rca_policy.names()))
    except PolicyError as exc:
        problems.append(str(exc))
    from service.config.rule_files import load_rules

    _, rule_problems = load_rules([settings.rules_dir], base=Path.cwd())
    problems.extend(str(p) for p in rule_problems)
    from service.config.escalation_policy_files import DEFAULT_ESCALATION_POLICY, load_escalation_policy
    from service.notifications.channels.configuration import channel_problems

    problems.extend(channel_problems(settings, base=Path.cwd()))
    escalation_file = settings.escalation_policy or settings.policies / DEFAULT_ESCALATION_POLICY
    escalation, _ = load_escalation_policy(escalation_file, base=Path.cwd())
    if escalation is not None and settings.slack_bot_token:
        for warning in asyncio.run(_slack_names(settings, escalation)):
            print(f"warning: {warning}", file=sys.stderr)
    from service.config.silence_policy import load_silence_policy

    problems.extend(str(p) for p in load_silence_policy(settings.policies, base=Path.cwd())[1])
    from service.reports.component import report_policy

    try:
        report_policy(settings)
    except (PolicyError, ValueError) as exc:
        problems.append(str(exc))
    from service.config.pushed_policy import PUSHED_FILE, load_pushed_policy

    problems.extend(str(p) for p in load_pushed_policy(settings.policies / PUSHED_FILE, base=Path.cwd())[1])
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print("configuration ok")
    return 0


async def _slack_names(settings: Settings, policy: Any) -> list[str]:
    """Whether Slack knows every person the escalation policy names (only when Slack can be asked)."""
    from service.notifications.channels.slack.directory import (
        SlackLookup,
        explicit,
        failure,
        policy_names,
        problems_of,
    )

    lookup = SlackLookup(settings.slack_bot_token, settings.slack_api_url)
    names = [n for n in policy_names(policy) if explicit(*n) is None]
    try:
        return problems_of(names, await lookup.lookup(names))
    except Exception as exc:  # noqa: BLE001 - any failure to ask Slack only means we could not check
        return [f"Slack could not be asked about the escalation policy's names: {failure(exc)}"]
    finally:
        await lookup.close()


def _cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    from service.web.accounts import AccountError
    from service.web.users_cli import read_password, users_command

    try:
        password = read_password() if args.users_command == "add" else None
        url, handle = _resolve_database(settings)
        try:
            return asyncio.run(
                users_command(url, args.users_command, getattr(args, "name", None), args.role, password)
            )
        finally:
            if handle is not None:
                handle.cleanup()
    except AccountError as exc:
        print(f"incidentd: {exc}", file=sys.stderr)
        return 2


def _cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from service.reports.cli import report_daily

    url, handle = _resolve_database(settings)
    try:
        return asyncio.run(report_daily(settings, url, send=args.send, form=args.format))
    finally:
        if handle is not None:
            handle.cleanup()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incidentd", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP API and the workers")
    sub.add_parser("migrate", help="apply pending database migrations and exit")
    sub.add_parser("check", help="validate settings, policy, rules and templates")
    rules = sub.add_parser("rules", help="work with threshold rule files")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    check = rules_sub.add_parser("check", help="validate rule files (default: the rules directory)")
    check.add_argument("paths", nargs="*", type=Path)
    test = rules_sub.add_parser("test", help="run rule unit tests")
    test.add_argument("paths", nargs="+", type=Path)
    users = sub.add_parser("users", help="console accounts (the password is read from standard input)")
    users.set_defaults(role="responder")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add an account; reads its password from standard input")
    add.add_argument("name")
    add.add_argument("--role", choices=["viewer", "responder", "admin"], default="responder")
    users_sub.add_parser("list", help="list accounts and their roles")
    remove = users_sub.add_parser("remove", help="remove an account and end its sessions")
    remove.add_argument("name")
    report = sub.add_parser("report", help="reports: the daily summary")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    daily = report_sub.add_parser("daily", help="the last 24 hours' summary, now")
    how = daily.add_mutually_exclusive_group(required=True)
    how.add_argument("--print", dest="send", action="store_false", help="print it; send nothing")
    how.add_argument("--send", dest="send", action="store_true", help="queue it for Slack and email now")
    daily.add_argument("--format", choices=["text", "html", "slack"], default="text", help="with --print")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from service.web.options import options_from_env

    try:
        settings = load_settings()
        options_from_env(settings.environment)  # the console's own settings, refused just as early
    except SettingsError as exc:
        print(f"incidentd: invalid setting: {exc}", file=sys.stderr)
        return 2
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    if args.command == "serve":
        return _serve(settings)
    if args.command == "migrate":
        return _cmd_migrate(settings)
    if args.command == "check":
        return _cmd_check(settings)
    if args.command == "users":
        return _cmd_users(settings, args)
    if args.command == "report":
        return _cmd_report(settings, args)
    if args.command == "rules":
        from service.rules_cli import rules_check, rules_test

        if args.rules_command == "check":
            return rules_check(list(args.paths) or [settings.rules_dir])
        return rules_test(list(args.paths))
    return 2


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())

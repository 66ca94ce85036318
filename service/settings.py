"""Settings, decoded once from the environment at start-up.

Every variable is documented in README.md ("Configuration"). A bad value stops
start-up with a message naming the variable, never a stack trace, and never
echoes a secret back.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from service.domain.retention import RetentionPolicy


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class ApiToken(msgspec.Struct, frozen=True):
    """A bearer token kept only as its SHA-256 digest, so a memory dump or repr leaks nothing usable."""

    name: str
    digest: bytes
    scopes: frozenset[str]

    def __repr__(self) -> str:
        return f"ApiToken(name={self.name!r}, scopes={sorted(self.scopes)!r})"


READ = "read"
WRITE = "write"


def digest_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    api_tokens: tuple[ApiToken, ...] = ()
    public_url: str = "http://127.0.0.1:8080"
    data_dir: Path = Path(".data")
    rules_dir: Path = Path("rules")
    policy_dir: Path | None = None
    templates_dir: Path = Path("incident_templates")
    escalation_policy: Path | None = None
    log_format: str = "auto"
    log_level: str = "info"
    db_pool_min: int = 1
    db_pool_max: int = 10
    db_connect_timeout: float = 5.0
    db_command_timeout: float = 10.0
    pagerduty_routing_key: str | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com"
    pagerduty_webhook_secrets: tuple[str, ...] = ()
    slack_bot_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_signing_secret: str | None = None
    slack_command: str = "/incident"
    workers: bool = True
    # POST /api/v2/alerts without a token from these networks (senders that cannot send one).
    alerts_open_to: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # The environment these settings were decoded from. Rule and policy files name variables
    # (a source's `url_env`, a probe's database, PagerDuty routing keys) that capabilities look
    # up here, so nothing but this module reads os.environ.
    environment: dict[str, str] = msgspec.field(default_factory=dict)
    retention: RetentionPolicy = RetentionPolicy()

    def __repr__(self) -> str:
        return "Settings(<redacted>)"

    @property
    def policies(self) -> Path:
        """Severities, notifications, escalation and RCA policy: beside the rules unless mounted apart."""
        return self.policy_dir or self.rules_dir / "policy"


def _parse_tokens(raw: str) -> tuple[ApiToken, ...]:
    """Parse `name=token` (read and write) or `name:read=token` (read only), comma separated.

    A bare `token` is accepted too and named `token-N`, so the simplest set-up is one secret.
    """
    tokens: list[ApiToken] = []
    for index, entry in enumerate(part.strip() for part in raw.split(",")):
        if not entry:
            continue
        if "=" in entry:
            head, secret = entry.split("=", 1)
        else:
            head, secret = f"token-{index + 1}", entry
        name, _, scope = head.partition(":")
        name = name.strip()
        secret = secret.strip()
        if not name or not secret:
            raise SettingsError(
                f"INCIDENTD_API_TOKENS entry {index + 1}: expected name=token or name:read=token"
            )
        if len(secret) < 8:
            raise SettingsError(
                f"INCIDENTD_API_TOKENS entry {index + 1} ({name}): token shorter than 8 characters"
            )
        if scope not in {"", READ, WRITE}:
            where = f"INCIDENTD_API_TOKENS entry {index + 1} ({name})"
            raise SettingsError(f"{where}: unknown scope {scope!r}, expected read or write")
        scopes = frozenset({READ}) if scope == READ else frozenset({READ, WRITE})
        tokens.append(ApiToken(name=name, digest=digest_token(secret), scopes=scopes))
    return tuple(tokens)


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: {value} is outside {low}..{high}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name}: must be positive")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, choices: set[str]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise SettingsError(f"{name}: expected one of {', '.join(sorted(choices))}, got {value!r}")
    return value


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith(("http://", "https://")):
        raise SettingsError(f"{name}: expected an http:// or https:// URL")
    return value


def _database_url(env: Mapping[str, str]) -> str | None:
    value = env.get("DATABASE_URL", "").strip()
    if not value:
        return None
    if not value.startswith(("postgres://", "postgresql://")):
        # The value may hold a password, so it is never echoed back.
        raise SettingsError("DATABASE_URL: expected a postgresql:// URL")
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _networks(env: Mapping[str, str], name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    found = []
    for index, part in enumerate(p.strip() for p in env.get(name, "").split(",")):
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SettingsError(
                f"{name} entry {index + 1}: {part!r} is not an address or network (CIDR)"
            ) from None
    return tuple(found)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    host = env.get("INCIDENTD_HOST", "").strip() or "127.0.0.1"
    port = _int(env, "INCIDENTD_PORT", 8080, 1, 65535)
    pool_min = _int(env, "INCIDENTD_DB_POOL_MIN", 1, 0, 100)
    pool_max = _int(env, "INCIDENTD_DB_POOL_MAX", 10, 1, 200)
    if pool_min > pool_max:
        raise SettingsError("INCIDENTD_DB_POOL_MIN: larger than INCIDENTD_DB_POOL_MAX")
    webhook_secrets = tuple(
        s.strip() for s in env.get("PAGERDUTY_WEBHOOK_SECRETS", "").split(",") if s.strip()
    )
    policy = env.get("INCIDENTD_ESCALATION_POLICY", "").strip()
    return Settings(
        database_url=_database_url(env),
        host=host,
        port=port,
        api_tokens=_parse_tokens(env.get("INCIDENTD_API_TOKENS", "")),
        public_url=_url(env, "INCIDENTD_PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
        data_dir=Path(env.get("INCIDENTD_DATA_DIR", "").strip() or ".data"),
        rules_dir=Path(env.get("INCIDENTD_RULES_DIR", "").strip() or "rules"),
        policy_dir=Path(policy_dir) if (policy_dir := env.get("INCIDENTD_POLICY_DIR", "").strip()) else None,
        templates_dir=Path(env.get("INCIDENTD_TEMPLATES_DIR", "").strip() or "incident_templates"),
        escalation_policy=Path(policy) if policy else None,
        log_format=_choice(env, "INCIDENTD_LOG_FORMAT", "auto", {"auto", "json", "console"}),
        log_level=_choice(env, "INCIDENTD_LOG_LEVEL", "info", {"debug", "info", "warning", "error"}),
        db_pool_min=pool_min,
        db_pool_max=pool_max,
        db_connect_timeout=_float(env, "INCIDENTD_DB_CONNECT_TIMEOUT", 5.0),
        db_command_timeout=_float(env, "INCIDENTD_DB_COMMAND_TIMEOUT", 10.0),
        pagerduty_routing_key=_optional(env, "PAGERDUTY_ROUTING_KEY"),
        pagerduty_events_url=_url(env, "PAGERDUTY_EVENTS_URL", "https://events.pagerduty.com"),
        pagerduty_webhook_secrets=webhook_secrets,
        slack_bot_token=_optional(env, "SLACK_BOT_TOKEN"),
        slack_api_url=_url(env, "SLACK_API_URL", "https://slack.com/api/"),
        slack_signing_secret=_optional(env, "SLACK_SIGNING_SECRET"),
        slack_command=env.get("INCIDENTD_SLACK_COMMAND", "").strip() or "/incident",
        workers=_bool(env, "INCIDENTD_WORKERS", True),
        alerts_open_to=_networks(env, "INCIDENTD_ALERTS_OPEN_TO"),
        environment=dict(env),
        retention=_retention(env),
    )


def _retention(env: Mapping[str, str]) -> RetentionPolicy:
    defaults = RetentionPolicy()
    return RetentionPolicy(
        sent_notifications_days=_int(
            env, "INCIDENTD_RETENTION_NOTIFICATIONS_DAYS", defaults.sent_notifications_days, 0, 36_500
        ),
        escalation_steps_days=_int(
            env, "INCIDENTD_RETENTION_ESCALATION_DAYS", defaults.escalation_steps_days, 0, 36_500
        ),
        rule_evaluations_days=_int(
            env, "INCIDENTD_RETENTION_RULE_EVALUATIONS_DAYS", defaults.rule_evaluations_days, 0, 36_500
        ),
        rca_versions=_int(env, "INCIDENTD_RETENTION_RCA_VERSIONS", defaults.rca_versions, 0, 1_000_000),
        batch=_int(env, "INCIDENTD_RETENTION_BATCH", defaults.batch, 1, 100_000),
    )

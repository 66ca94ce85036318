"""Where a named webhook target goes: its URL and secret, from the environment or a file.

For a target named `ops-bot`:
  INCIDENTD_WEBHOOK_OPS_BOT_URL            https://bots.example.com/incidentd
  INCIDENTD_WEBHOOK_OPS_BOT_SECRET         the signing secret, or
  INCIDENTD_WEBHOOK_OPS_BOT_SECRET_FILE    a file holding it (a mounted Kubernetes secret)
No URL: the target's intents are held until there is one. The policy names targets only, so
neither the URL (which may carry a token) nor the secret is written to the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class WebhookTarget:
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)


def env_prefix(name: str) -> str:
    return "INCIDENTD_WEBHOOK_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def check_name(name: str) -> str | None:
    if not _NAME.match(name):
        return f"{name!r} is not a webhook target name (lowercase letters, digits, '-', '_')"
    return None


def check_urls(env: Mapping[str, str]) -> list[str]:
    """Every INCIDENTD_WEBHOOK_<NAME>_URL that is set but not an http(s) URL with a host (URL not shown:
    it may carry a token)."""
    problems: list[str] = []
    for key in sorted(env):
        if not (key.startswith("INCIDENTD_WEBHOOK_") and key.endswith("_URL")):
            continue
        value = env[key].strip()
        if not value:
            continue
        try:
            parts = urlsplit(value)
            ok = parts.scheme in {"http", "https"} and bool(parts.hostname)
            _ = parts.port
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"{key}: expected an http:// or https:// URL with a host")
    return problems


def resolve(name: str, env: Mapping[str, str]) -> WebhookTarget | None:
    prefix = env_prefix(name)
    url = env.get(f"{prefix}_URL", "").strip()
    if not url or urlsplit(url).scheme not in {"http", "https"}:
        return None
    secret = env.get(f"{prefix}_SECRET", "").strip() or None
    secret_file = env.get(f"{prefix}_SECRET_FILE", "").strip()
    if secret is None and secret_file:
        try:
            secret = Path(secret_file).read_text().strip() or None
        except OSError:
            return None
    return WebhookTarget(url=url, secret=secret)

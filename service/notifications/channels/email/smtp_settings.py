"""INCIDENTD_SMTP_URL and INCIDENTD_EMAIL_FROM, read once; the password never leaves this object's repr."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

URL_ENV = "INCIDENTD_SMTP_URL"
FROM_ENV = "INCIDENTD_EMAIL_FROM"


class SmtpSettingsError(ValueError):
    pass


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool  # smtps://
    starttls: bool  # smtp://…?starttls=true
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def domain(self) -> str:
        """Where our Message-IDs live: the sender's domain."""
        return parseaddr(self.sender)[1].rpartition("@")[2] or "incidentd.invalid"


def parse(env: Mapping[str, str]) -> SmtpSettings | None:
    """None when email is not configured (intents are then held, visibly, until it is)."""
    url, sender = env.get(URL_ENV, "").strip(), env.get(FROM_ENV, "").strip()
    if not url or not sender:
        return None
    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"}:
        raise SmtpSettingsError(
            f"{URL_ENV}: expected smtp:// or smtps://, got {parts.scheme or 'nothing'}://"
        )
    if not parts.hostname:
        raise SmtpSettingsError(f"{URL_ENV}: no host")
    if "@" not in parseaddr(sender)[1]:
        raise SmtpSettingsError(f"{FROM_ENV}: expected an address such as incidentd@example.com")
    query = parse_qs(parts.query)
    starttls = (query.get("starttls") or ["false"])[0].lower() in {"1", "true", "yes"}
    implicit = parts.scheme == "smtps"
    if implicit and starttls:
        raise SmtpSettingsError(f"{URL_ENV}: smtps:// is already TLS; drop ?starttls=true")
    try:
        port = parts.port or (465 if implicit else 587 if starttls else 25)
    except ValueError:
        raise SmtpSettingsError(f"{URL_ENV}: the port is not a number") from None
    return SmtpSettings(
        host=parts.hostname,
        port=port,
        implicit_tls=implicit,
        starttls=starttls,
        sender=sender,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )

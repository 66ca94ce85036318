"""Credentials and TLS for scraping: basic auth, bearer tokens, CA and client certificates.

Rule files only name where a secret is (an environment variable or a file);
the secret itself is read here, when the request is made (a rotated token file
is picked up at the next scrape), and it only ever goes into the request's
Authorization header. Errors name the variable or the file, never its content.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Mapping
from pathlib import Path

from service.domain.rules import ScrapeAuth, TlsOptions
from service.sources.failures import SourceError


def _read_secret(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(
            f"{what} {path} cannot be read: {getattr(exc, 'strerror', None) or 'not text'}"
        ) from None


def _from_env(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "")
    if not value:
        raise SourceError(f"{what} {name} is not set")
    return value


def authorization(auth: ScrapeAuth | None, env: Mapping[str, str]) -> dict[str, str]:
    """The Authorization header for a scrape, or no header; raises SourceError when a secret is missing."""
    if auth is None:
        return {}
    if auth.bearer_token_env:
        return {"Authorization": f"Bearer {_from_env(env, auth.bearer_token_env, 'bearer_token_env')}"}
    if auth.bearer_token_file:
        token = _read_secret(auth.bearer_token_file, "bearer_token_file")
        if not token:
            raise SourceError(f"bearer_token_file {auth.bearer_token_file} is empty")
        return {"Authorization": f"Bearer {token}"}
    if auth.username is not None:
        password = ""
        if auth.password_env:
            password = _from_env(env, auth.password_env, "password_env")
        elif auth.password_file:
            password = _read_secret(auth.password_file, "password_file")
        pair = base64.b64encode(f"{auth.username}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    return {}


def tls_context(tls: TlsOptions | None) -> ssl.SSLContext | None:
    """None for the platform's defaults; raises SourceError when a configured file cannot be used."""
    if tls is None:
        return None
    try:
        context = (
            ssl.create_default_context(cafile=tls.ca_file) if tls.ca_file else ssl.create_default_context()
        )
        if tls.cert_file and tls.key_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except FileNotFoundError as exc:
        raise SourceError(f"TLS file {exc.filename} does not exist") from None
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(
            f"TLS files cannot be used: {getattr(exc, 'reason', None) or type(exc).__name__}"
        ) from None
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

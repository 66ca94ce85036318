"""The console's settings and clock, as the composition root provides them to its routes.

Read from the environment (see README, "Web console"):

- INCIDENTD_SESSION_IDLE_MINUTES (default 120) and INCIDENTD_SESSION_MAX_HOURS (default 12): a session
  ends after that long without a request, or that long after login, whichever comes first;
- INCIDENTD_AUTH_PROXY_HEADER (off by default), for example X-Forwarded-Email: the user an
  authenticating proxy vouches for, believed only from INCIDENTD_AUTH_PROXY_FROM;
- INCIDENTD_AUTH_PROXY_FROM: the proxies' addresses or networks (CIDR, comma-separated). Requests from
  them also have their client taken from X-Forwarded-For, so failed logins count the real client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import timedelta

import msgspec

from service.clock import Clock
from service.dependencies import Key
from service.settings import SettingsError
from service.web.sessions import SESSION_LIFETIME, SessionLifetime

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class WebOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Timings and trust; tests shorten the stream so reconnects happen within a test."""

    stream_seconds: float = 300.0
    heartbeat_seconds: float = 15.0
    session_lifetime: SessionLifetime = SESSION_LIFETIME
    degraded_refresh_seconds: float = 2.0
    proxy_header: str | None = None
    proxy_from: tuple[Network, ...] = ()


def _minutes(env: Mapping[str, str], name: str, default: timedelta, unit: timedelta) -> timedelta:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not a number") from None
    if not 0 < value <= 100_000:
        raise SettingsError(f"{name}: {raw} is out of range (more than 0, at most 100000)")
    return unit * value


def _networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    found: list[Network] = []
    for index, part in enumerate(p.strip() for p in env.get(name, "").split(",")):
        if part:
            try:
                found.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise SettingsError(f"{name} entry {index + 1}: {part!r} is not an address or CIDR") from None
    return tuple(found)


def options_from_env(env: Mapping[str, str]) -> WebOptions:
    idle = _minutes(env, "INCIDENTD_SESSION_IDLE_MINUTES", SESSION_LIFETIME.idle, timedelta(minutes=1))
    absolute = _minutes(env, "INCIDENTD_SESSION_MAX_HOURS", SESSION_LIFETIME.absolute, timedelta(hours=1))
    header = env.get("INCIDENTD_AUTH_PROXY_HEADER", "").strip() or None
    proxies = _networks(env, "INCIDENTD_AUTH_PROXY_FROM")
    if header is not None and not proxies:
        raise SettingsError(
            "INCIDENTD_AUTH_PROXY_HEADER is set but INCIDENTD_AUTH_PROXY_FROM is empty:"
            " name the proxy addresses the header is believed from"
        )
    if header is not None and not header.replace("-", "").isalnum():
        raise SettingsError(f"INCIDENTD_AUTH_PROXY_HEADER: {header!r} is not a header name")
    return WebOptions(
        session_lifetime=SessionLifetime(idle=min(idle, absolute), absolute=absolute),
        proxy_header=header.lower() if header else None,
        proxy_from=proxies,
    )


WEB_OPTIONS: Key[WebOptions] = Key("web_options")
WEB_CLOCK: Key[Clock] = Key("web_clock")

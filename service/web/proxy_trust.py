"""Who a request really comes from when an authenticating proxy stands in front of the console.

Only a peer inside INCIDENTD_AUTH_PROXY_FROM is believed. From such a peer, the client is the
rightmost X-Forwarded-For address that is not itself a trusted proxy (the leftmost entries are
whatever the client chose to send), and the user is the configured header's value. From any other
peer both headers are ignored, so nobody can name themselves by sending the header directly.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar import Request

from service.web.options import Network, WebOptions

AnyRequest = Request[Any, Any, Any]


def _inside(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def peer_address(request: AnyRequest) -> str:
    return request.client.host if request.client else "unknown"


def from_trusted_proxy(request: AnyRequest, options: WebOptions) -> bool:
    return bool(options.proxy_from) and _inside(peer_address(request), options.proxy_from)


def client_address(request: AnyRequest, options: WebOptions) -> str:
    """The address failed logins are counted against: the real client behind a trusted proxy."""
    peer = peer_address(request)
    if not from_trusted_proxy(request, options):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _inside(hop, options.proxy_from):
            return hop[:100]
    return peer


def proxy_user(request: AnyRequest, options: WebOptions) -> str | None:
    """The user name the trusted proxy vouches for, or None (off, untrusted peer, or no header)."""
    if options.proxy_header is None or not from_trusted_proxy(request, options):
        return None
    value = request.headers.get(options.proxy_header, "").strip()
    return value[:200] or None

"""Fetching and parsing one Prometheus-format /metrics endpoint.

Every failure becomes a `SourceError` with a short message: the collector turns
it into a `SourceStatus` (and the pipeline into a synthetic `up == 0` alert),
never into a crash. Messages name the host and port at most, never the URL,
which may carry credentials or a token in its query string.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp

from service.sources.exposition import Exposition, ExpositionError, ExpositionParser
from service.sources.failures import ExpositionUnreadable, SourceError

# Like Prometheus: prefer the classic text format, accept OpenMetrics.
ACCEPT = (
    "text/plain;version=0.0.4;q=1.0,application/openmetrics-text;version=1.0.0;q=0.5,"
    "text/plain;q=0.2,*/*;q=0.1"
)
MAX_BODY_BYTES = 200 * 1024 * 1024
# Parsing a large body takes a few hundred milliseconds: do it off the event loop.
_THREAD_THRESHOLD = 512 * 1024


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port}" if parts.port else parts.hostname or "?"


async def fetch_exposition(
    session: aiohttp.ClientSession,
    url: str,
    timeout: float,
    parser: ExpositionParser,
    *,
    headers: Mapping[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    server_name: str | None = None,
) -> Exposition:
    """GET and parse the exposition; raises SourceError with an operator-readable reason.
    `headers` may carry credentials: they go into the request and nowhere else."""
    try:
        async with session.get(
            url,
            headers={"Accept": ACCEPT, **(headers or {})},
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=True,
            ssl=tls if tls is not None else True,
            server_hostname=server_name,
        ) as response:
            if response.status != 200:
                raise SourceError(f"HTTP {response.status} {response.reason or ''}".strip())
            if response.content_length is not None and response.content_length > MAX_BODY_BYTES:
                raise SourceError(
                    f"body of {response.content_length} bytes is over the {MAX_BODY_BYTES} limit"
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise SourceError(f"body is over the {MAX_BODY_BYTES} byte limit")
                chunks.append(chunk)
            body = b"".join(chunks)
            content_type = response.headers.get("Content-Type", "")
    except TimeoutError:
        raise SourceError(f"timed out after {timeout:g}s") from None
    except aiohttp.ClientConnectorCertificateError as exc:
        reason = getattr(exc.certificate_error, "verify_message", None) or "certificate not trusted"
        raise SourceError(f"TLS with {_where(url)} failed: {reason}") from None
    except aiohttp.ClientSSLError:
        raise SourceError(f"TLS with {_where(url)} failed") from None
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        raise SourceError(f"cannot connect to {_where(url)}: {reason}") from None
    except aiohttp.InvalidURL:
        raise SourceError("invalid URL") from None
    except aiohttp.ClientError as exc:
        raise SourceError(f"request to {_where(url)} failed: {type(exc).__name__}") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError("body is not UTF-8 text (not a Prometheus exposition)") from None
    openmetrics = content_type.split(";", 1)[0].strip().lower() == "application/openmetrics-text"
    try:
        if len(text) > _THREAD_THRESHOLD:
            return await asyncio.to_thread(parser.parse, text, openmetrics=openmetrics)
        return parser.parse(text, openmetrics=openmetrics)
    except ExpositionError as exc:
        raise ExpositionUnreadable(f"cannot parse the exposition: {exc}") from None

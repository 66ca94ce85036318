"""Instant PromQL queries against a Prometheus server's HTTP API (`GET /api/v1/query`).

For teams who already run Prometheus: each series of the returned instant
vector is one row; a scalar result is one row without labels. `__name__` is
dropped from the labels, as Prometheus drops it from alerts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec

from service.domain.derivations import Row
from service.sources.failures import SourceError


class _Data(msgspec.Struct):
    resultType: str  # the API's spelling
    result: Any


class _Response(msgspec.Struct):
    status: str
    data: _Data | None = None
    errorType: str | None = None
    error: str | None = None


_DECODER = msgspec.json.Decoder(_Response)


async def instant_query(
    session: aiohttp.ClientSession, base_url: str, query: str, at: float, timeout: float
) -> list[Row]:
    url = base_url.rstrip("/") + "/api/v1/query"
    try:
        async with session.get(
            url, params={"query": query, "time": f"{at:.3f}"}, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            body = await response.read()
            status = response.status
    except TimeoutError:
        raise SourceError(f"query timed out after {timeout:g}s") from None
    except aiohttp.ClientConnectorError as exc:
        where = urlsplit(base_url)
        host = f"{where.hostname}:{where.port}" if where.port else where.hostname
        raise SourceError(
            f"cannot connect to {host}: {exc.os_error.strerror or 'connection failed'}"
        ) from None
    except aiohttp.InvalidURL:
        raise SourceError("invalid URL") from None
    except aiohttp.ClientError as exc:
        raise SourceError(f"request failed: {type(exc).__name__}") from None
    try:
        decoded = _DECODER.decode(body)
    except msgspec.DecodeError:
        raise SourceError(f"HTTP {status}: the response is not the Prometheus API's JSON") from None
    if decoded.status != "success":
        reason = f"{decoded.errorType or 'error'}: {decoded.error or 'no detail'}"
        raise SourceError(f"query failed (HTTP {status}): {reason[:300]}")
    if status != 200 or decoded.data is None:
        raise SourceError(f"HTTP {status} without a result")
    return _rows(decoded.data)


def _number(raw: Any) -> float:
    if isinstance(raw, list) and len(raw) == 2 and isinstance(raw[1], str):
        try:
            return float(raw[1])
        except ValueError:
            pass
    raise SourceError(f"unexpected sample {str(raw)[:60]!r} in the response")


def _rows(data: _Data) -> list[Row]:
    if data.resultType == "scalar":
        return [({}, _number(data.result))]
    if data.resultType != "vector":
        raise SourceError(f"the query returns a {data.resultType}; a rule needs an instant vector or scalar")
    if not isinstance(data.result, list):
        raise SourceError("unexpected vector in the response")
    rows: list[Row] = []
    for item in data.result:
        if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
            raise SourceError("unexpected vector element in the response")
        value = _number(item.get("value"))
        labels = {str(k): str(v) for k, v in item["metric"].items() if k != "__name__"}
        rows.append((labels, value))
    return rows

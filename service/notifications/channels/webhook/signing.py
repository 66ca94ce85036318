"""The signature receivers check: HMAC-SHA256 over "<timestamp>.<body>" with the target's secret.

Headers sent with every POST (documented in the README for receivers):
  X-Incidentd-Timestamp: unix seconds at signing
  X-Incidentd-Signature: v1=<lowercase hex HMAC-SHA256(secret, timestamp + "." + body)>
  X-Incidentd-Delivery:  the outbox row's id, the same on every retry (deduplicate on it)
A receiver recomputes the HMAC over the raw body it got, compares in constant time, and
refuses timestamps older than a few minutes (replays).
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Incidentd-Timestamp"
SIGNATURE_HEADER = "X-Incidentd-Signature"
DELIVERY_HEADER = "X-Incidentd-Delivery"
SCHEME = "v1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"

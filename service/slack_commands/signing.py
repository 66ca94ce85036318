"""Is this request really from Slack, and new? Checked on the raw body before anything else runs.

The HMAC itself is slack_sdk's SignatureVerifier (v0, constant-time compare). Around it we
name the reason for each refusal, so `/metrics` tells a misconfigured secret (bad_signature)
from a clock or replay problem (stale, replayed). A signature seen before inside the 5-minute
window is refused: Slack gives every request a fresh trigger_id, so only a copy repeats one.
The signatures seen live in PostgreSQL, so a copy sent to another replica is refused too;
they expire a little after the window and the retention job removes them.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from datetime import timedelta

from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier

from service.adapters.postgres.database import Database
from service.clock import Clock

WINDOW_SECONDS = 300
TIMESTAMP_HEADER = "x-slack-request-timestamp"
SIGNATURE_HEADER = "x-slack-signature"


class Rejection(enum.StrEnum):
    MISSING = "missing"
    MALFORMED = "malformed"
    STALE = "stale"
    BAD_SIGNATURE = "bad_signature"
    REPLAYED = "replayed"


class _SlackClockAdapter(SlackClock):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock().timestamp()


class RequestVerifier:
    def __init__(self, signing_secret: str, clock: Clock, db: Database) -> None:
        self._clock = clock
        self._db = db
        self._verifier = SignatureVerifier(signing_secret, clock=_SlackClockAdapter(clock))

    def verify(self, body: bytes, headers: Mapping[str, str]) -> Rejection | None:
        """The signature and its window alone (no I/O); None when Slack signed this body just now."""
        timestamp = headers.get(TIMESTAMP_HEADER)
        signature = headers.get(SIGNATURE_HEADER)
        if not timestamp or not signature:
            return Rejection.MISSING
        if not timestamp.isdigit() or not signature.startswith("v0="):
            return Rejection.MALFORMED
        if abs(self._clock().timestamp() - int(timestamp)) > WINDOW_SECONDS:
            return Rejection.STALE
        try:
            valid = self._verifier.is_valid(body, timestamp, signature)
        except UnicodeDecodeError:
            return Rejection.BAD_SIGNATURE
        return None if valid else Rejection.BAD_SIGNATURE

    async def check(self, body: bytes, headers: Mapping[str, str]) -> Rejection | None:
        """None when the request may run; otherwise why it may not. Records accepted signatures."""
        rejection = self.verify(body, headers)
        if rejection is not None:
            return rejection
        digest = hashlib.sha256(headers[SIGNATURE_HEADER].encode()).digest()
        now = self._clock()
        first = await self._db.fetchval(
            "INSERT INTO slack_request_signatures (digest, seen_at, expires_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (digest) DO NOTHING RETURNING true",
            digest,
            now,
            now + timedelta(seconds=2 * WINDOW_SECONDS),
        )
        return None if first else Rejection.REPLAYED

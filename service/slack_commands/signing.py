"""Is this request really from Slack, and new? Checked on the raw body before anything else runs.

The HMAC itself is slack_sdk's SignatureVerifier (v0, constant-time compare). Around it we
name the reason for each refusal, so `/metrics` tells a misconfigured secret (bad_signature)
from a clock or replay problem (stale, replayed). A signature seen before inside the 5-minute
window is refused: Slack gives every request a fresh trigger_id, so only a copy repeats one.
The replay memory is per process; with several replicas a copy could land on another one,
which the timestamp window still bounds to 5 minutes.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Mapping

from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier

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
    def __init__(self, signing_secret: str, clock: Clock, *, max_remembered: int = 200_000) -> None:
        self._clock = clock
        self._verifier = SignatureVerifier(signing_secret, clock=_SlackClockAdapter(clock))
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._max_remembered = max_remembered

    def check(self, body: bytes, headers: Mapping[str, str]) -> Rejection | None:
        """None when the request may run; otherwise why it may not. Records accepted signatures."""
        timestamp = headers.get(TIMESTAMP_HEADER)
        signature = headers.get(SIGNATURE_HEADER)
        if not timestamp or not signature:
            return Rejection.MISSING
        if not timestamp.isdigit() or not signature.startswith("v0="):
            return Rejection.MALFORMED
        now = self._clock().timestamp()
        if abs(now - int(timestamp)) > WINDOW_SECONDS:
            return Rejection.STALE
        try:
            valid = self._verifier.is_valid(body, timestamp, signature)
        except UnicodeDecodeError:
            return Rejection.BAD_SIGNATURE
        if not valid:
            return Rejection.BAD_SIGNATURE
        return self._remember(signature, now)

    def _remember(self, signature: str, now: float) -> Rejection | None:
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if now - seen_at <= 2 * WINDOW_SECONDS and len(self._seen) < self._max_remembered:
                break
            del self._seen[oldest]
        if signature in self._seen:
            return Rejection.REPLAYED
        self._seen[signature] = now
        return None

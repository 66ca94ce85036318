"""The signature check: window, tampering, replay, and the request builder agreeing with slack_sdk."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk.signature import SignatureVerifier

from service.clock import FrozenClock
from service.slack_commands.signing import Rejection, RequestVerifier
from service.testing.slack_signing import command_body, signature_headers

SECRET = "test-secret"


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_builder_signs_like_slack() -> None:
    body = command_body("ack 42")
    headers = signature_headers(SECRET, body)
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert b"text=ack+42" in body
    assert body.startswith(b"token=")


def test_window_tamper_and_replay() -> None:
    clock = FrozenClock()
    verifier = RequestVerifier(SECRET, clock)
    now = int(clock().timestamp())
    body = command_body("ack 42")
    assert verifier.check(body, lower(signature_headers(SECRET, body, now - 300))) is None
    assert verifier.check(body, lower(signature_headers(SECRET, body, now - 301))) is Rejection.STALE
    assert verifier.check(body, lower(signature_headers(SECRET, body, now + 301))) is Rejection.STALE
    headers = lower(signature_headers(SECRET, body, now))
    assert verifier.check(body + b"x", headers) is Rejection.BAD_SIGNATURE
    assert verifier.check(body, headers) is None
    assert verifier.check(body, headers) is Rejection.REPLAYED
    assert verifier.check(body, {}) is Rejection.MISSING
    assert verifier.check(body, {**headers, "x-slack-request-timestamp": "soon"}) is Rejection.MALFORMED
    assert verifier.check(b"\xff\xfe", lower(signature_headers(SECRET, b"\xff\xfe", now))) is (
        Rejection.BAD_SIGNATURE
    )


def test_replay_memory_forgets_after_the_window() -> None:
    clock = FrozenClock()
    verifier = RequestVerifier(SECRET, clock, max_remembered=2)
    bodies = [command_body(f"show {n}") for n in range(3)]
    stamped = [(b, lower(signature_headers(SECRET, b, int(clock().timestamp())))) for b in bodies]
    for body, headers in stamped:
        assert verifier.check(body, headers) is None
    assert verifier.check(*stamped[2]) is Rejection.REPLAYED  # newest kept under the size bound
    clock.advance(timedelta(minutes=11))
    fresh = command_body("show 9")
    assert verifier.check(fresh, lower(signature_headers(SECRET, fresh, int(clock().timestamp())))) is None

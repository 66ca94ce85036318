"""The signature check: window, tampering, and the request builder agreeing with slack_sdk."""

from __future__ import annotations

from slack_sdk.signature import SignatureVerifier

from service.adapters.postgres.database import Database
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


def test_window_and_tampering() -> None:
    clock = FrozenClock()
    verifier = RequestVerifier(SECRET, clock, Database("postgresql://unused"))
    now = int(clock().timestamp())
    body = command_body("ack 42")
    assert verifier.verify(body, lower(signature_headers(SECRET, body, now - 300))) is None
    assert verifier.verify(body, lower(signature_headers(SECRET, body, now - 301))) is Rejection.STALE
    assert verifier.verify(body, lower(signature_headers(SECRET, body, now + 301))) is Rejection.STALE
    headers = lower(signature_headers(SECRET, body, now))
    assert verifier.verify(body + b"x", headers) is Rejection.BAD_SIGNATURE
    assert verifier.verify(body, headers) is None
    assert verifier.verify(body, {}) is Rejection.MISSING
    assert verifier.verify(body, {**headers, "x-slack-request-timestamp": "soon"}) is Rejection.MALFORMED
    assert verifier.verify(b"\xff\xfe", lower(signature_headers(SECRET, b"\xff\xfe", now))) is (
        Rejection.BAD_SIGNATURE
    )

"""A signed Slack request runs once, whichever replica each copy reaches; the record expires."""

from __future__ import annotations

from datetime import timedelta

from service.adapters.postgres.database import Database
from service.clock import FrozenClock
from service.slack_commands.signing import Rejection, RequestVerifier
from service.testing.slack_signing import command_body, signature_headers

SECRET = "test-secret"


def _headers(body: bytes, at: int) -> dict[str, str]:
    return {k.lower(): v for k, v in signature_headers(SECRET, body, at).items()}


async def test_a_copy_sent_to_another_replica_is_refused(db: Database, database_url: str) -> None:
    clock = FrozenClock()
    pools = [Database(database_url, min_size=1, max_size=2) for _ in range(2)]
    try:
        first, second = (RequestVerifier(SECRET, clock, pool) for pool in pools)
        body = command_body("declare P1 checkout down")
        headers = _headers(body, int(clock().timestamp()))
        assert await first.check(body, headers) is None
        assert await second.check(body, headers) is Rejection.REPLAYED
        assert await first.check(body, headers) is Rejection.REPLAYED
        other = command_body("declare P1 search down")
        assert await second.check(other, _headers(other, int(clock().timestamp()))) is None
        expiry = await db.fetchval("SELECT max(expires_at) FROM slack_request_signatures")
        assert expiry == clock() + timedelta(minutes=10)
        clock.advance(timedelta(minutes=6))  # the window has passed: the copy is now simply stale
        assert await second.check(body, headers) is Rejection.STALE
    finally:
        for pool in pools:
            await pool.close()

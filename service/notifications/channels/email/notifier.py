"""Email as a channel plug-in: one message per outbox row, to the row's target address.

SMTP answers are interpreted as the RFC says: 4xx is temporary (retry with backoff), 5xx
permanent (a dead letter shown in the API), a connection that fails or times out is retried.
The password is only handed to aiosmtplib; errors are redacted before they are stored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import aiosmtplib
import asyncpg

from service.notifications.channels.email import incident_mail, mail
from service.notifications.channels.email.smtp_settings import FROM_ENV, URL_ENV, SmtpSettings
from service.notifications.notifier import Attempt, Outcome, Pacing, Plan
from service.notifications.outcomes import DeliveryError, NotConfigured, redact
from service.notifications.payloads import EmailMessage, IncidentEvent, decode
from service.notifications.store import OutboxRow

NAME = "email"
MESSAGE = "message"  # any email queued for an address (reports, summaries)
INCIDENT = "incident"  # an incident's change, rendered here
_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
# Most relays accept a few messages a second per connection; one message per row keeps it simple.
PACING = Pacing(rate=5.0, burst=10.0)


def check_target(target: str) -> str | None:
    if not _ADDRESS.match(target):
        return f"{target!r} is not an email address"
    return None


class EmailNotifier:
    def __init__(
        self, smtp: SmtpSettings | None, *, timeout: float = 10.0, pacing: Pacing | None = PACING
    ) -> None:
        self._smtp = smtp
        self._timeout = timeout
        self._pacing = pacing

    @property
    def name(self) -> str:
        return NAME

    @property
    def pacing(self) -> Pacing | None:
        return self._pacing

    def ready(self, target: str) -> bool:
        return self._smtp is not None

    def hold_scope(self, target: str) -> str | None:
        return None

    def check_target(self, target: str) -> str | None:
        return check_target(target)

    def secrets(self) -> Sequence[str]:
        return [self._smtp.password] if self._smtp is not None and self._smtp.password else []

    async def plan(self, conn: asyncpg.Connection, head: OutboxRow, now: datetime) -> Plan:
        return Plan(batch=[head])

    async def send(self, attempt: Attempt) -> object:
        smtp = self._smtp
        if smtp is None:
            raise NotConfigured(f"{URL_ENV} and {FROM_ENV} are not both set")
        head = attempt.head
        if head.kind == INCIDENT:
            event = decode(head.payload, IncidentEvent)
            subject, text, rendered = incident_mail.render(event)
            html_part: str | None = rendered
            thread: str | None = f"incident-{head.incident_id}"
        else:
            message_payload = decode(head.payload, EmailMessage)
            subject, text, html_part = message_payload.subject, message_payload.text, message_payload.html
            thread = message_payload.thread
        first = thread is None or not await _earlier_in_thread(attempt.conn, head)
        message = mail.build(
            sender=smtp.sender,
            to=head.target,
            subject=subject,
            text=text,
            html_part=html_part,
            domain=smtp.domain,
            message_key=f"outbox-{head.id}",
            thread=thread,
            first_in_thread=first,
            now=attempt.now,
        )
        try:
            await aiosmtplib.send(
                message,
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.username,
                password=smtp.password,
                use_tls=smtp.implicit_tls,
                start_tls=smtp.starttls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise self._answer(min(codes) if codes else 550, "recipient refused") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise self._answer(exc.code, exc.message) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP unreachable: {type(exc).__name__}", retry=True) from None
        return message["Message-ID"]

    def _answer(self, code: int, text: str) -> DeliveryError:
        detail = redact(f"SMTP {code}: {text}", self.secrets())
        return DeliveryError(detail, retry=400 <= code < 500 or code < 0)

    def interpret(self, attempt: Attempt, answer: object) -> Outcome:
        return Outcome(receipt=attempt.head.kind == INCIDENT)

    async def after_retry(self, conn: asyncpg.Connection, head: OutboxRow, retry_at: datetime) -> None:
        return None

    async def close(self) -> None:
        return None


async def _earlier_in_thread(conn: asyncpg.Connection, head: OutboxRow) -> bool:
    """Whether this address already got a message of this thread (then this one replies to it)."""
    if head.kind == INCIDENT:
        found = await conn.fetchval(
            "SELECT 1 FROM notification_outbox WHERE channel = $1 AND target = $2 AND incident_id = $3"
            " AND kind = $4 AND id < $5 AND status = 'sent' LIMIT 1",
            NAME,
            head.target,
            head.incident_id,
            INCIDENT,
            head.id,
        )
    else:
        found = await conn.fetchval(
            "SELECT 1 FROM notification_outbox WHERE channel = $1 AND target = $2 AND kind = $3"
            " AND payload ->> 'thread' = $4 AND id < $5 AND status = 'sent' LIMIT 1",
            NAME,
            head.target,
            MESSAGE,
            str(head.payload.get("thread")),
            head.id,
        )
    return found is not None

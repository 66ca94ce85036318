"""What a channel is to the sender: one `Notifier` per outside system, registered by name.

The sender knows nothing about PagerDuty, Slack or email. For a claimed outbox row it asks the
row's notifier three things, in the order of Alertmanager's `Notifier` + pipeline:
`plan` (which other rows this one send stands for), `send` (talk to the provider, raising
`DeliveryError` or `NotConfigured` in the sender's terms) and `interpret` (what the answer means
for the incident: a receipt on its timeline, rows it made redundant). Holding, pacing, retries
and dead letters are the pipeline's, the same for every channel (service/notifications/pipeline/).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import asyncpg

from service.notifications.store import OutboxRow


@dataclass(frozen=True)
class Pacing:
    """A token bucket per (channel, target): `rate` sends a second on average, `burst` at once."""

    rate: float
    burst: float = 1.0


@dataclass(frozen=True)
class Plan:
    """The rows one send covers: `batch` is marked sent with the head; `members` were claimed for it."""

    batch: Sequence[OutboxRow]
    members: Sequence[OutboxRow] = ()


@dataclass(frozen=True)
class Attempt:
    """One provider call about to happen, inside the sending transaction (`conn`)."""

    head: OutboxRow
    plan: Plan
    conn: asyncpg.Connection
    now: datetime
    maybe_sent: bool  # an earlier call for this row started and its outcome never committed


@dataclass(frozen=True)
class Outcome:
    """What a successful send means: a receipt on the incident's timeline, and rows it stood for."""

    receipt: bool = False
    coalesced: Sequence[int] = field(default_factory=tuple)


class Notifier(Protocol):
    """A channel plug-in. `name` is the outbox's `channel` column and the policy's target key."""

    @property
    def name(self) -> str: ...

    @property
    def pacing(self) -> Pacing | None:
        """The provider's rate limit per target, shared by every replica; None: unpaced."""

    def ready(self, target: str) -> bool:
        """Whether credentials for this target exist now (held rows are released when they do)."""

    def hold_scope(self, target: str) -> str | None:
        """What lacks credentials when a send says NotConfigured: this target, or (None) the channel."""

    def check_target(self, target: str) -> str | None:
        """The problem with a target named in a policy file, or None when it is fine."""

    def secrets(self) -> Sequence[str]:
        """Values that must never reach a log, an error or the API."""

    async def plan(self, conn: asyncpg.Connection, head: OutboxRow, now: datetime) -> Plan: ...

    async def send(self, attempt: Attempt) -> object: ...

    def interpret(self, attempt: Attempt, answer: object) -> Outcome: ...

    async def after_retry(self, conn: asyncpg.Connection, head: OutboxRow, retry_at: datetime) -> None:
        """A failed send will be retried at `retry_at`: keep what depends on it waiting."""

    async def close(self) -> None: ...


class UnknownChannel(KeyError):
    pass


class Notifiers:
    """The registered channels by name; built once by the composition root."""

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        by_name: dict[str, Notifier] = {}
        for notifier in notifiers:
            if notifier.name in by_name:
                raise ValueError(f"two channels are named {notifier.name!r}")
            by_name[notifier.name] = notifier
        self._by_name: Mapping[str, Notifier] = by_name

    def __getitem__(self, name: str) -> Notifier:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownChannel(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Notifier]:
        return iter(self._by_name.values())

    @property
    def names(self) -> list[str]:
        return list(self._by_name)

    def secrets(self) -> list[str]:
        return [s for n in self._by_name.values() for s in n.secrets()]

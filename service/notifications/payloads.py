"""What an outbox row carries, per channel and kind: versioned msgspec structs instead of loose dicts.

`v` is the payload format. Rows written before payloads were versioned carry no `v` and
decode as version 0, which has the same fields: nothing already queued is lost across an
upgrade. Unknown fields (a newer release's) are ignored. Defaults are not stored
(`omit_defaults`), so an absent optional field is absent in the row, as before.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from service.notifications.outcomes import DeliveryError

VERSION = 1


class Payload(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    v: int = 0  # 0: written before payloads had a version


class PagerDutyTrigger(Payload, frozen=True, kw_only=True, omit_defaults=True):
    dedup_key: str
    summary: str
    source: str
    severity: str
    payload: dict[str, Any] | None = None  # timestamp, component, group, class
    custom_details: dict[str, Any] | None = None
    links: list[dict[str, str]] | None = None


class PagerDutyAction(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """Acknowledge or resolve: PagerDuty needs only the dedup key of the trigger."""

    dedup_key: str


class SlackMessage(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """A post or an update of the incident's message; `changes` become one threaded reply."""

    snapshot: dict[str, Any]
    changes: list[str] = msgspec.field(default_factory=list)
    storm_key: str | None = None  # the storm summary this post waits for


class StormSummary(Payload, frozen=True, kw_only=True, omit_defaults=True):
    storm_key: str
    channel: str
    interval_seconds: float = 0.0


class EmailMessage(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """Any email to the row's target address; `thread` groups an incident's messages (In-Reply-To)."""

    subject: str
    text: str
    html: str | None = None
    thread: str | None = None


class WebhookEvent(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """One incident event POSTed as JSON; `body` is sent as it is, signed."""

    body: dict[str, Any]


P = TypeVar("P", bound=Payload)


class IncidentEvent(Payload, frozen=True, kw_only=True, omit_defaults=True):
    """What happened to an incident, channel-neutral: the channel renders it (email) or posts it (webhook).

    `events` are the change's timeline events as {kind, at, actor, data}; `snapshot` is the
    incident as it is now (the same snapshot Slack and PagerDuty messages are made from).
    """

    snapshot: dict[str, Any]
    events: list[dict[str, Any]] = msgspec.field(default_factory=list)


def encode(payload: Payload | dict[str, Any]) -> dict[str, Any]:
    if isinstance(payload, dict):
        return payload
    built: dict[str, Any] = msgspec.to_builtins(payload)
    return built


def decode(data: dict[str, Any], kind: type[P]) -> P:
    """A stored payload as its struct; a row that does not fit is a dead letter naming the field."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise DeliveryError(f"{kind.__name__} payload: {exc}", retry=False) from None

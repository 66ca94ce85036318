"""The data of the timeline events that more than one room reads, as versioned structs.

`v` is the format; events without one are version 0, the format they always had. Unknown
fields are ignored, so a newer writer never breaks an older reader.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

# The format events have always had is version 0, stored without `v`; a change of fields bumps it,
# and from then on events carry `v` so readers can tell the formats apart.
VERSION = 0


class EventData(msgspec.Struct, frozen=True, kw_only=True):
    v: int = 0

    def as_data(self) -> dict[str, Any]:
        """The stored form: absent optional fields stay absent, and version 0 carries no `v`."""
        built: dict[str, Any] = msgspec.to_builtins(self)
        return {k: v for k, v in built.items() if v is not None and not (k == "v" and v == 0)}


class Escalated(EventData, frozen=True, kw_only=True):
    """A level was told. `targets` maps a channel plug-in (or a Slack mention kind) to its targets."""

    level: int
    level_name: str = ""
    reason: str = ""
    targets: dict[str, list[str]] = msgspec.field(default_factory=dict)
    attempt: int = 1
    policy: str = ""
    severity: str = ""
    pages: bool = True
    expected_resolution_seconds: int | None = None
    open_since: str | None = None

    def targets_of(self, channel: str) -> list[str]:
        return list(self.targets.get(channel) or [])


class DeliveryReceipt(EventData, frozen=True, kw_only=True):
    """notification_sent / notification_failed: which outbox row, where to, and why it died."""

    channel: str
    kind: str
    target: str
    outbox_id: int
    error: str | None = None


E = TypeVar("E", bound=EventData)


def read(data: dict[str, Any], kind: type[E]) -> E | None:
    """The event's data as its struct, or None when it does not fit (shown, never acted on)."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError:
        return None

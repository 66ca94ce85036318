"""What Slack needs from escalation, as Protocols, so this package does not import that one.

The composition root provides escalation's service under ESCALATION_PORT; when the
capability is left out the commands say so instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

from service.dependencies import Key
from service.domain.incidents import Actor


class LevelTargets(Protocol):
    @property
    def slack_users(self) -> Sequence[str]: ...

    @property
    def slack_channels(self) -> Sequence[str]: ...

    @property
    def pagerduty(self) -> Sequence[str]: ...


class OncallLevel(Protocol):
    @property
    def number(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def delay(self) -> timedelta: ...

    @property
    def targets(self) -> LevelTargets: ...


class Escalation(Protocol):
    async def escalate_now(self, incident_id: int, actor: Actor) -> Any:
        """Page the next level at once; raises IncidentNotFound or Conflict."""

    def oncall(self, labels: Mapping[str, str]) -> Sequence[OncallLevel]:
        """The levels of the policy the given labels select, first level first."""


ESCALATION_PORT: Key[Escalation] = Key("slack_escalation_port")

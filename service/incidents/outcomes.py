"""What the incident service answers besides an incident: its refusals and its results."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from service.domain.incidents import Incident
from service.incidents.transaction import IncidentChange

TransitionListener = Callable[[IncidentChange], None]


class IncidentNotFound(Exception):
    def __init__(self, incident_id: int) -> None:
        super().__init__(f"incident {incident_id} not found")
        self.incident_id = incident_id


class Conflict(Exception):
    """The request is well-formed but contradicts the current state (HTTP 409)."""


class DeclareResult(msgspec.Struct, frozen=True):
    incident: Incident
    created: bool

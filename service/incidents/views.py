"""Request and response bodies of the incidents API.

msgspec validates requests, and its error names the offending field
(`Expected str of length <= 500 - at $.title`), which Litestar returns as a 400.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from service.domain.incidents import Incident, TimelineEvent, allowed_actions, incident_page_url

SeverityName = Literal["P0", "P1", "P2", "P3"]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]
NonEmptyText = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
LabelKey = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")]
LabelValue = Annotated[str, msgspec.Meta(max_length=500)]


class DeclareRequest(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    severity: SeverityName
    dedup_key: Annotated[str, msgspec.Meta(min_length=1, max_length=512)] | None = None
    labels: dict[LabelKey, LabelValue] = msgspec.field(default_factory=dict)
    description: Text = ""


class ActionRequest(msgspec.Struct, forbid_unknown_fields=True):
    note: Text | None = None


class SeverityRequest(msgspec.Struct, forbid_unknown_fields=True):
    severity: SeverityName
    reason: Text | None = None


class AssignRequest(msgspec.Struct, forbid_unknown_fields=True):
    assignee: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class NoteRequest(msgspec.Struct, forbid_unknown_fields=True):
    text: NonEmptyText


class EventView(msgspec.Struct):
    id: int
    at: datetime
    kind: str
    actor: str
    source: str
    data: dict[str, Any]

    @classmethod
    def of(cls, event: TimelineEvent) -> EventView:
        return cls(
            id=event.id, at=event.at, kind=event.kind, actor=event.actor, source=event.source, data=event.data
        )


class IncidentView(msgspec.Struct):
    id: int
    human_id: str
    # The console page a person opens (the link PagerDuty and Slack carry); api_url is this resource.
    url: str
    api_url: str
    dedup_key: str
    title: str
    description: str
    severity: SeverityName
    status: str
    labels: dict[str, str]
    assignee: str | None
    created_by: str
    source: str
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    allowed_actions: list[str]

    @classmethod
    def of(cls, incident: Incident, base_url: str) -> IncidentView:
        return cls(
            id=incident.id,
            human_id=incident.human_id,
            url=incident_page_url(base_url, incident.id),
            api_url=f"{base_url}/api/v1/incidents/{incident.id}",
            dedup_key=incident.dedup_key,
            title=incident.title,
            description=incident.description,
            severity=incident.severity.label,  # type: ignore[arg-type]
            status=incident.status.value,
            labels=incident.labels,
            assignee=incident.assignee,
            created_by=incident.created_by,
            source=incident.source,
            created_at=incident.created_at,
            updated_at=incident.updated_at,
            acknowledged_at=incident.acknowledged_at,
            mitigated_at=incident.mitigated_at,
            resolved_at=incident.resolved_at,
            allowed_actions=[a.value for a in allowed_actions(incident.status)],
        )


class IncidentDetail(msgspec.Struct):
    incident: IncidentView
    timeline: list[EventView]
    response_target_seconds: int
    extras: dict[str, Any] = msgspec.field(default_factory=dict)


class DeclareResponse(msgspec.Struct):
    incident: IncidentView
    created: bool


class IncidentPage(msgspec.Struct):
    items: list[IncidentView]
    next_before: int | None

"""Record: a receipt on the incident's timeline when a page or first post left, or died.

Written in the sending transaction, so the receipt commits with the row's status.
"""

from __future__ import annotations

from service.domain.event_kinds import EventKind
from service.domain.event_payloads import VERSION, DeliveryReceipt
from service.domain.incidents import Actor
from service.incidents.service import IncidentService, IncidentTransaction
from service.notifications.store import OutboxRow

SYSTEM = Actor(name="notifications", source="system")


class Receipts:
    def __init__(self, incidents: IncidentService) -> None:
        self._incidents = incidents

    async def record(
        self, tx: IncidentTransaction, row: OutboxRow, kind: EventKind, error: str | None = None
    ) -> bool:
        if row.incident_id is None:
            return False
        incident = await self._incidents.find_in(tx, row.incident_id)
        if incident is None:
            return False
        receipt = DeliveryReceipt(
            v=VERSION, channel=row.channel, kind=row.kind, target=row.target, outbox_id=row.id, error=error
        )
        await self._incidents.record_in(tx, incident, kind, SYSTEM, receipt.as_data())
        return True

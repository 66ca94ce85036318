"""The Acknowledge / Resolve / Escalate buttons on incident messages.

One definition for both ends: the notifications layer puts them on messages and
the Slack commands layer answers their clicks by these action ids.
"""

from __future__ import annotations

from typing import Any

ACTION_ACK = "incident_ack"
ACTION_RESOLVE = "incident_resolve"
ACTION_ESCALATE = "incident_escalate"


def actions_block(incident_id: int, status: str) -> dict[str, Any] | None:
    """The buttons that make sense for the status; none once the incident is resolved."""
    if status == "resolved":
        return None
    value = str(incident_id)
    elements: list[dict[str, Any]] = []
    if status == "triggered":
        elements.append(_button("Acknowledge", ACTION_ACK, value, "primary"))
    elements.append(_button("Resolve", ACTION_RESOLVE, value, None))
    elements.append(_button("Escalate", ACTION_ESCALATE, value, "danger"))
    return {"type": "actions", "block_id": f"incident-{value}", "elements": elements}


def _button(label: str, action_id: str, value: str, style: str | None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button

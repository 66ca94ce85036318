"""incidentd: threshold rules, incidents P0-P3, escalation, PagerDuty and Slack, RCA documents.

One folder per step of the flow (sources → alerting → incidents → escalation → notifications,
with slack_commands and rca beside them); `make lint` checks who may import whom
(pyproject.toml, [tool.importlinter]).
"""

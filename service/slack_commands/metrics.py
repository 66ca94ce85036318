"""Prometheus metrics of the Slack door: rejected requests, commands run, answers deferred."""

from __future__ import annotations

from prometheus_client import Counter

REJECTED = Counter(
    "incidentd_slack_requests_rejected_total",
    "Slack requests refused before doing anything (signature missing, bad, stale, replayed; no secret)",
    ["reason"],
)
COMMANDS = Counter(
    "incidentd_slack_commands_total",
    "Slash commands and button actions run, by command and outcome (ok, usage, refused, error)",
    ["command", "outcome"],
)
DEFERRED = Counter(
    "incidentd_slack_deferred_total",
    "Answers that missed the in-request budget and were finished through response_url",
)
RESPONSE_URL_FAILURES = Counter(
    "incidentd_slack_response_url_failures_total", "Deliveries to a response_url that failed"
)

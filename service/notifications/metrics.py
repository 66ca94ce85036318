"""Prometheus metrics for notification delivery and PagerDuty webhooks."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_ROWS = Gauge(
    "incidentd_notification_outbox", "Notification intents by status (pending, held, dead)", ["status"]
)
SENDS = Counter(
    "incidentd_notification_sends_total",
    "Delivery attempts by channel and outcome (sent, retry, dead, held, coalesced)",
    ["channel", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "incidentd_notification_delivery_seconds",
    "From the incident change committing the intent to the provider accepting it",
    ["channel"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)
WEBHOOKS = Counter(
    "incidentd_pagerduty_webhooks_total",
    "PagerDuty v3 webhooks by outcome (applied, duplicate, ignored, unmatched, bad_signature, invalid)",
    ["outcome"],
)

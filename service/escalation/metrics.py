"""Prometheus metrics of the escalation timers: are pages going out on time?"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

STEPS_PERFORMED = Counter("incidentd_escalation_steps_total", "Escalation steps performed, by kind", ["kind"])
STEP_FAILURES = Counter(
    "incidentd_escalation_step_failures_total",
    "Escalation steps that raised and were retried later",
    ["kind"],
)
LATENESS = Histogram(
    "incidentd_escalation_lateness_seconds",
    "Time from a step's due time to its performance",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0),
)
IDLE_POLLS = Counter("incidentd_escalation_idle_polls_total", "Timer polls that found nothing due")

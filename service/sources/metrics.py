"""Prometheus metrics about the sources themselves (the collectors' own health)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SOURCE_UP = Gauge("incidentd_source_up", "1 when the last read of the source succeeded", ["source", "kind"])
SOURCE_DURATION = Histogram(
    "incidentd_source_read_duration_seconds",
    "Time to read a source (scrape, Prometheus query or SQL probe)",
    ["source", "kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
SOURCE_FAILURES = Counter("incidentd_source_failures_total", "Failed reads of a source", ["source", "kind"])
SCRAPE_SAMPLES = Gauge("incidentd_scrape_samples", "Samples in the last successful scrape", ["source"])
SCRAPE_ERRORS = Counter(
    "incidentd_scrape_errors_total",
    "Problems in scraped expositions: 'parse' failed the whole scrape, 'duplicate' samples were dropped",
    ["source", "reason"],
)
SCRAPE_TARGETS = Gauge("incidentd_scrape_targets", "Targets of a scrape source in its last round", ["source"])
SCRAPE_TARGETS_UP = Gauge("incidentd_scrape_targets_up", "Targets that answered the last round", ["source"])

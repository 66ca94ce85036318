"""Collection for the rules engine: scrape targets, Prometheus servers and SQL probes into derived values."""

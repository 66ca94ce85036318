"""Collection for the rules engine: scrape targets, Prometheus servers and SQL probes into derived values.

May import: domain and observability; never the database of incidents or another room.
"""

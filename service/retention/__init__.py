"""Retention: finished notifications, escalation steps, rule evaluations and old RCA versions are
deleted once across replicas, in small batches (job.py); how long is Settings.retention.
May import: domain, components, adapters, clock, dependencies, supervisor.
"""

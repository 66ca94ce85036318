"""Test doubles shipped beside the code they stand in for: embedded PostgreSQL, fake PagerDuty and Slack.

Imported by tests, benchmarks and the demo, never by shipped code (`make lint` checks it).
"""

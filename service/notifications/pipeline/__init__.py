"""The delivery pipeline as small stages, each testable alone; sender.py runs them in order:

hold (no credentials) → pace (shared token buckets) → send (the channel's Notifier) →
record (status, receipt on the incident's timeline) → retry or dead letter.
"""

"""Telling people: PagerDuty and Slack through a durable outbox, and PagerDuty webhooks back in.

intents.py turns incident changes into outbox rows inside the change's transaction; sender.py
delivers them at least once, in order; channels/ holds one package per outside system.
May import: domain, config, incidents (its service), http, components; never escalation.
"""

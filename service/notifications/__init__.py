"""Telling people: PagerDuty and Slack through a durable outbox, and PagerDuty webhooks back in."""

"""Escalation timers: who is told next and when, durable in PostgreSQL.

The observer that arms, stops and reschedules steps inside each incident change, the worker
that claims due steps (FOR UPDATE SKIP LOCKED), the steps store and the escalation routes.
May import: domain, config, incidents (its service), http, components; never notifications.
"""

"""Alerting: rule files → collected values → alert state in PostgreSQL → incidents.

The rule book (reload without ever running a broken set), the evaluation loop and its
alert-state store, synthetic source-health rules, and the /api/v1/alerts and /rules routes.
May import: domain, config, sources, incidents (its service, never its store), http, components.
"""

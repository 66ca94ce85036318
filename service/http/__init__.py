"""HTTP plumbing every room's routes share: bearer-token guards, error answers, health, metrics.

Routes themselves live beside their noun (`incidents/routes.py`, `rca/routes.py`, ...).
May import: domain, settings, observability, adapters, dependencies; never a room of the flow.
"""

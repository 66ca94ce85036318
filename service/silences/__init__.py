"""Quieting alerts on purpose: silences, maintenance windows and inhibition, and the one verdict they give.

The rules themselves (matchers, time intervals, inhibition, verdicts) are pure and live in
domain/; here are their store, the use cases (service.py), the muter every alert door asks
(snapshot.py), incident mutes (an incident whose firing alerts are all muted stops escalating)
and the /api/v1/maintenance routes. The composition root wires them: the Context carries the
muter, so this room sits below components.
May import: domain, config, incidents (its service, never its store), http, adapters, clock, dependencies.
"""

"""The one door to incidents: every caller (API, Slack, rules, PagerDuty, escalation) goes through it.

service.py holds the use cases and the transaction observers ride in; store.py is the SQL over
incidents and their timeline (`make lint` keeps it private), listing.py the console's incident
list over it; routes.py and views.py are the HTTP API; details.py is how other rooms add to an
incident's detail.
May import: domain, http, adapters, clock, dependencies.
"""

"""The web console: server-rendered pages for people working an incident, beside Slack and the API.

Pages read and change incidents through IncidentService, RCAs through RcaService, and show what
the capabilities report (escalation, notifications, alerts); sessions and accounts live in
PostgreSQL (accounts.py, sessions.py). A door like slack_commands: it may ask every capability.
May import: domain, incidents (its service, never its store), rca, escalation, alerting, notifications,
http, components, adapters, clock, dependencies.
"""

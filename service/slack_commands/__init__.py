"""Slack as a door in: signed slash commands and button clicks, run through the incident service.

May import: domain, incidents, rca, the Slack button definitions of notifications, components;
escalation only through the Protocol in escalation_port.py (app.py provides it).
"""

"""Outgoing webhooks: incident events POSTed as signed JSON to named, configured URLs."""

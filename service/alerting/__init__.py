"""Alerting: rule files → collected values → alert state in PostgreSQL → incidents."""

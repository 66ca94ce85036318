"""The one error a source fetch raises: its message is shown to operators, so it never holds a secret."""

from __future__ import annotations


class SourceError(Exception):
    """A source could not be read; `str(error)` is short, human and free of DSNs, passwords and tokens."""


class ExpositionUnreadable(SourceError):
    """The target answered, but its text is not a valid exposition (counted as a scrape error)."""

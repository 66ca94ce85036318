"""Severity for alerts that arrive with a `severity` label instead of a threshold table.

Prometheus rule files and pushed alerts (Alertmanager's API, its webhook) name severity in their own
words: `critical`, `warning`, `info`, sometimes `page` or `P1`. One mapping serves all of them, so the
same alert gets the same P-level whichever door it came through. P0 is never inferred from a word: a
whole-system outage is declared on purpose (`severity: P0` or `P0` spelled out), not guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.domain.severity import Severity

DEFAULT_LABEL_SEVERITIES: Mapping[str, Severity] = {
    "critical": Severity.P1,
    "page": Severity.P1,
    "high": Severity.P1,
    "error": Severity.P2,
    "major": Severity.P2,
    "warning": Severity.P2,
    "warn": Severity.P2,
    "minor": Severity.P3,
    "low": Severity.P3,
    "info": Severity.P3,
    "none": Severity.P3,
}

# An alert whose severity we cannot read still reaches Slack, where a person can raise it.
UNLABELLED_SEVERITY = Severity.P2


def severity_from_labels(
    labels: Mapping[str, str],
    mapping: Mapping[str, Severity] = DEFAULT_LABEL_SEVERITIES,
    default: Severity = UNLABELLED_SEVERITY,
) -> Severity:
    """The P-level for an alert's labels: `severity` (or `priority`) read case-insensitively."""
    for key in ("severity", "priority"):
        word = labels.get(key, "").strip()
        if not word:
            continue
        found = mapping.get(word.lower())
        if found is not None:
            return found
        try:
            return Severity.parse(word)
        except ValueError:
            continue
    return default

"""Severity levels P0-P3 and the response policy attached to them.

The levels and their response targets come from the incident runbook
(002_b1ab8eb4e8f4fb2c.txt, "Severity Levels"); the numbers live in
rules/policy/severities.yaml so operators can change them without a release.
"""

from __future__ import annotations

import enum
from datetime import timedelta

import msgspec


class Severity(enum.IntEnum):
    """Lower is worse, so `min()` picks the most severe and `<` reads as "more urgent than"."""

    P0 = 0
    P1 = 1
    P2 = 2
    P3 = 3

    @property
    def label(self) -> str:
        return self.name

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Accept `P1`, `p1`, `1`, `sev1` so chat users and API clients do not trip over spelling."""
        cleaned = text.strip().upper().removeprefix("SEV").removeprefix("P")
        if cleaned in {"0", "1", "2", "3"}:
            return cls(int(cleaned))
        raise ValueError(f"unknown severity {text!r}: expected one of P0, P1, P2, P3")


class SeverityLevel(msgspec.Struct, frozen=True, kw_only=True):
    """What a severity means and how fast a human must respond to it."""

    severity: Severity
    name: str
    description: str
    response_target: timedelta
    examples: tuple[str, ...] = ()
    action: str = ""


class SeverityPolicy(msgspec.Struct, frozen=True, kw_only=True):
    levels: tuple[SeverityLevel, ...]

    def level(self, severity: Severity) -> SeverityLevel:
        for level in self.levels:
            if level.severity == severity:
                return level
        raise KeyError(f"severity policy has no entry for {severity.label}")

    def response_target(self, severity: Severity) -> timedelta:
        return self.level(severity).response_target

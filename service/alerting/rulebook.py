"""The rule set the evaluator runs, reloadable on SIGHUP or by API without ever running a broken one.

A reload that finds any problem is refused as a whole: the last good set keeps
running, the problems are logged and kept for the API, and a metric counts the
failure so a bad deploy of rule files shows on a dashboard rather than in silence.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import structlog
from prometheus_client import Counter, Gauge

from service.clock import Clock
from service.config.rule_files import load_rules, rule_files_in
from service.dependencies import Key
from service.domain.rules import Rule, RuleSet

log = structlog.get_logger(__name__)

RULE_RELOADS = Counter("incidentd_rules_reloads_total", "Rule reloads by outcome", ["outcome"])
RULES_LOADED = Gauge("incidentd_rules_loaded", "Enabled rules in the running rule set")
RULES_LAST_RELOAD_OK = Gauge("incidentd_rules_last_reload_success", "1 if the last reload was accepted")


class ReloadResult:
    def __init__(self, *, accepted: bool, problems: list[str], rules: int, digest: str) -> None:
        self.accepted = accepted
        self.problems = problems
        self.rules = rules
        self.digest = digest


class RuleBook:
    def __init__(self, directory: Path, clock: Clock, *, base: Path | None = None) -> None:
        self._directory = directory
        self._clock = clock
        self._base = base
        self._rules = RuleSet()
        self.digest = ""
        self.loaded_at: datetime | None = None
        self.last_problems: list[str] = []
        self.generation = 0
        # Rules this process has seen that the current set no longer has: their alerts must resolve.
        self.retired: dict[str, Rule] = {}

    @property
    def current(self) -> RuleSet:
        return self._rules

    @property
    def directory(self) -> Path:
        return self._directory

    def _fingerprint(self) -> str:
        sha = hashlib.sha256()
        for path in rule_files_in([self._directory]):
            sha.update(path.name.encode())
            sha.update(path.read_bytes())
        return sha.hexdigest()[:12]

    def reload(self) -> ReloadResult:
        try:
            digest = self._fingerprint()
            rules, problems = load_rules([self._directory], base=self._base)
            texts = [str(p) for p in problems]
        except OSError as exc:
            digest, rules, texts = "", RuleSet(), [f"{self._directory}:1: (file): {exc.strerror or exc}"]
        if texts:
            self.last_problems = texts
            RULE_RELOADS.labels(outcome="refused").inc()
            RULES_LAST_RELOAD_OK.set(0)
            log.error("rules_reload_refused", problems=texts[:20], count=len(texts), kept=self.digest or None)
            return ReloadResult(accepted=False, problems=texts, rules=self._count(), digest=self.digest)
        kept = {rule.name for rule in rules.rules()}
        self.retired = {
            **{name: rule for name, rule in self.retired.items() if name not in kept},
            **{rule.name: rule for rule in self._rules.rules() if rule.name not in kept},
        }
        self._rules = rules
        self.digest = digest
        self.loaded_at = self._clock()
        self.last_problems = []
        self.generation += 1
        RULE_RELOADS.labels(outcome="accepted").inc()
        RULES_LAST_RELOAD_OK.set(1)
        RULES_LOADED.set(self._count())
        log.info("rules_loaded", rules=self._count(), digest=digest)
        if rules.warnings:
            log.warning("rules_loaded_with_warnings", warnings=list(rules.warnings[:20]))
        return ReloadResult(accepted=True, problems=[], rules=self._count(), digest=digest)

    def _count(self) -> int:
        return sum(1 for _ in self._rules.enabled_rules())


RULEBOOK: Key[RuleBook] = Key("rulebook")

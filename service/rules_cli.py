"""`incidentd rules check [DIR|FILE...]` and `incidentd rules test FILE...`.

Both print one `file:line: field: problem` line per problem (the format
editors and CI annotate) and return a process exit code: 0 clean, 1 problems
or failing tests.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from service.config.escalation_policy_files import DEFAULT_ESCALATION_POLICY, load_escalation_policy
from service.config.rule_files import load_rules, rule_files_in
from service.config.rule_test_files import load_rule_tests
from service.domain.promtool_cases import PromTestCase, run_promtool_case
from service.domain.rule_tests import run_case

DEFAULT_RULES_DIR = Path("rules")


def rules_check(paths: list[Path], out: TextIO | None = None) -> int:
    """Validate rule files together (a directory means its top-level *.yaml); print every problem."""
    stream = out or sys.stdout
    targets = paths or [DEFAULT_RULES_DIR]
    missing = [p for p in targets if not p.exists()]
    for path in missing:
        print(f"{path}:1: (file): no such file or directory", file=stream)
    if missing:
        return 1
    files = rule_files_in(targets)
    rules, problems = load_rules(targets, base=Path.cwd())
    for directory in (p for p in targets if p.is_dir()):
        escalation = directory / "policy" / DEFAULT_ESCALATION_POLICY
        if escalation.exists():
            files.append(escalation)
            problems = [*problems, *load_escalation_policy(escalation, base=Path.cwd())[1]]
    for warning in rules.warnings:
        print(warning, file=stream)
    for problem in problems:
        print(problem, file=stream)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        print(
            f"{len(problems)} {noun} in {len({p.file for p in problems})} of {len(files)} files", file=stream
        )
        return 1
    count = sum(1 for _ in rules.rules())
    enabled = sum(1 for _ in rules.enabled_rules())
    sources = len(rules.sources.names())
    groups = len(rules.groups)
    print(
        f"ok: {len(files)} files, {groups} groups, {count} rules ({enabled} enabled), {sources} sources",
        file=stream,
    )
    return 0


def rules_test(paths: list[Path], out: TextIO | None = None) -> int:
    """Run rule unit tests (a directory: every *.yaml in it); failures show expected vs got at file:line."""
    stream = out or sys.stdout
    files = rule_files_in(paths or [DEFAULT_RULES_DIR / "tests"])
    if not files:
        print(f"{', '.join(map(str, paths))}:1: (files): no test files found", file=stream)
        return 1
    passed = failed = broken = 0
    for path in files:
        if not path.exists():
            print(f"{path}:1: (file): no such file or directory", file=stream)
            broken += 1
            continue
        loaded, problems = load_rule_tests(path, base=Path.cwd())
        if loaded is None:
            for problem in problems:
                print(problem, file=stream)
            broken += 1
            continue
        for case in loaded.cases:
            if isinstance(case, PromTestCase):
                failures = run_promtool_case(list(loaded.rules.rules()), case)
            else:
                failures = run_case(loaded.rules, case)
            if not failures:
                passed += 1
                print(f"ok    {loaded.file}: {case.name}", file=stream)
                continue
            failed += 1
            print(f"FAIL  {loaded.file}: {case.name}", file=stream)
            for failure in failures:
                print(f"{loaded.file}:{failure.line}: {failure.message}", file=stream)
    summary = f"{passed} passed, {failed} failed"
    if broken:
        summary += f", {broken} {'file' if broken == 1 else 'files'} could not be loaded"
    print(summary, file=stream)
    return 0 if failed == 0 and broken == 0 else 1

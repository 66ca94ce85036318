from __future__ import annotations

from pathlib import Path

import pytest

from service.config.policy_files import PolicyError
from service.config.rca_policy_files import load_rca_policy
from service.domain.rca_templates import DEFAULT_TEMPLATE, SHORT_TEMPLATE
from service.domain.severity import Severity

SHIPPED = Path(__file__).resolve().parents[2] / "rules" / "policy" / "rca.yaml"


def test_shipped_policy_uses_the_seed_template_for_p0_p1() -> None:
    policy = load_rca_policy(SHIPPED)
    assert policy.by_severity[Severity.P1] == DEFAULT_TEMPLATE
    assert policy.by_severity[Severity.P3] == SHORT_TEMPLATE


def test_service_and_severity_choices_are_read(tmp_path: Path) -> None:
    path = tmp_path / "rca.yaml"
    path.write_text(
        "templates:\n  by_severity: {P2: rca-default.md.j2}\n  by_service: {payments: pay.md.j2}\n"
    )
    policy = load_rca_policy(path)
    assert policy.by_severity[Severity.P2] == DEFAULT_TEMPLATE
    assert policy.by_service == {"payments": "pay.md.j2"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("templates:\n  by_severity: {P7: x.md.j2}\n", "by_severity"),
        ("templates:\n  by_service: {api: ../etc/passwd}\n", "is not a template file name"),
        ("templates:\n  by_colour: {}\n", "by_colour"),
    ],
)
def test_bad_policy_names_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "rca.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=expected) as error:
        load_rca_policy(path)
    assert str(path) in str(error.value)


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    assert load_rca_policy(tmp_path / "absent.yaml").by_severity[Severity.P0] == DEFAULT_TEMPLATE


def test_bad_policy_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rca.yaml"
    path.write_text("templates:\n  by_severity: {P7: x.md.j2}\n  by_service:\n    api: ../etc/passwd\n")
    with pytest.raises(PolicyError) as error:
        load_rca_policy(path)
    assert str(error.value).splitlines() == [
        f"{path}:2: templates.by_severity.P7: unknown severity 'P7': expected one of P0, P1, P2, P3",
        f"{path}:4: templates.by_service.api: '../etc/passwd' is not a template file name"
        " (e.g. rca-short.md.j2)",
    ]

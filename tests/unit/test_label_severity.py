from service.domain.label_severity import severity_from_labels
from service.domain.severity import Severity


def test_words_map_to_levels() -> None:
    assert severity_from_labels({"severity": "critical"}) is Severity.P1
    assert severity_from_labels({"severity": "Warning"}) is Severity.P2
    assert severity_from_labels({"severity": "info"}) is Severity.P3


def test_explicit_levels_are_taken_as_written() -> None:
    assert severity_from_labels({"severity": "P0"}) is Severity.P0
    assert severity_from_labels({"priority": "sev3"}) is Severity.P3


def test_unknown_or_missing_falls_back_to_the_default() -> None:
    assert severity_from_labels({}) is Severity.P2
    assert severity_from_labels({"severity": "bananas"}) is Severity.P2
    assert severity_from_labels({"severity": "bananas"}, default=Severity.P3) is Severity.P3

from __future__ import annotations

from pathlib import Path

import pytest

from service.config.policy_files import PolicyError, load_severity_policy
from service.domain.durations import format_duration, parse_duration
from service.domain.severity import Severity
from service.http.auth import find_token
from service.settings import READ, WRITE, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.port == 8080
    assert settings.host == "127.0.0.1"
    assert settings.database_url is None
    assert settings.api_tokens == ()


def test_tokens_are_kept_as_digests_with_scopes() -> None:
    settings = load_settings({"INCIDENTD_API_TOKENS": "alice=alice-secret-1, grafana:read=grafana-secret"})
    alice, grafana = settings.api_tokens
    assert alice.name == "alice"
    assert alice.scopes == {READ, WRITE}
    assert grafana.scopes == {READ}
    assert "alice-secret-1" not in repr(settings.api_tokens)
    assert b"alice-secret-1" not in alice.digest
    assert find_token(settings.api_tokens, "alice-secret-1") is alice
    assert find_token(settings.api_tokens, "grafana-secret") is grafana
    assert find_token(settings.api_tokens, "nope-nope-nope") is None


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"INCIDENTD_PORT": "eighty"}, "INCIDENTD_PORT"),
        ({"INCIDENTD_PORT": "70000"}, "INCIDENTD_PORT"),
        ({"DATABASE_URL": "mysql://root:hunter2@db/x"}, "DATABASE_URL"),
        ({"INCIDENTD_API_TOKENS": "alice=short"}, "INCIDENTD_API_TOKENS"),
        ({"INCIDENTD_API_TOKENS": "alice:admin=long-enough-token"}, "INCIDENTD_API_TOKENS"),
        ({"INCIDENTD_LOG_FORMAT": "xml"}, "INCIDENTD_LOG_FORMAT"),
        ({"PAGERDUTY_EVENTS_URL": "ftp://x"}, "PAGERDUTY_EVENTS_URL"),
        ({"INCIDENTD_WORKERS": "maybe"}, "INCIDENTD_WORKERS"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert str(caught.value).startswith(variable)


def test_bad_database_url_does_not_echo_the_password() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"DATABASE_URL": "mysql://root:hunter2@db/x"})
    assert "hunter2" not in str(caught.value)


def test_settings_repr_is_redacted() -> None:
    settings = load_settings(
        {"SLACK_BOT_TOKEN": "xoxb-very-secret", "DATABASE_URL": "postgresql://u:pw@h/db"}
    )
    assert "xoxb" not in repr(settings)
    assert "pw" not in repr(settings)


def test_durations() -> None:
    assert parse_duration("90s").total_seconds() == 90
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("500ms").total_seconds() == 0.5
    assert format_duration(parse_duration("1h5m")) == "1h 5m"
    for bad in ["", "5", "5x", "m5", "1h 5"]:
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_shipped_severity_policy_matches_the_runbook() -> None:
    policy = load_severity_policy(ROOT / "rules" / "policy" / "severities.yaml")
    minutes = {s: policy.response_target(s).total_seconds() / 60 for s in Severity}
    assert minutes == {Severity.P0: 5, Severity.P1: 15, Severity.P2: 60, Severity.P3: 240}


def test_alternative_policy_from_seed_000_loads() -> None:
    policy = load_severity_policy(ROOT / "rules" / "policy" / "examples" / "severities-000.yaml")
    assert policy.response_target(Severity.P1).total_seconds() == 3600


def test_policy_errors_name_file_line_and_field_all_at_once(tmp_path: Path) -> None:
    path = tmp_path / "severities.yaml"
    path.write_text(
        "levels:\n  - severity: P9\n    name: x\n    response_target: 5m\n"
        "  - severity: P0\n    name: y\n    response_target: soon\n"
    )
    with pytest.raises(PolicyError) as caught:
        load_severity_policy(path)
    assert str(caught.value).splitlines() == [
        f"{path}:2: levels[0].severity: unknown severity 'P9': expected one of P0, P1, P2, P3",
        f"{path}:7: levels[1].response_target: bad duration 'soon': expected e.g. 30s, 5m, 1h30m, 2d",
    ]
    path.write_text("levels: [\n")
    with pytest.raises(PolicyError, match=r"severities.yaml:\d+: yaml: syntax error"):
        load_severity_policy(path)


def test_retention_settings_are_read_and_checked() -> None:
    from service.settings import SettingsError, load_settings

    env = {"INCIDENTD_RETENTION_NOTIFICATIONS_DAYS": "7", "INCIDENTD_RETENTION_RCA_VERSIONS": "0"}
    loaded = load_settings(env)
    assert loaded.retention.sent_notifications_days == 7
    assert loaded.retention.rca_versions == 0
    assert loaded.retention.escalation_steps_days == 90
    with pytest.raises(SettingsError, match="INCIDENTD_RETENTION_BATCH"):
        load_settings({"INCIDENTD_RETENTION_BATCH": "0"})

"""The console's settings from the environment: session limits and the sign-in proxy, with clear errors."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest

from service.settings import SettingsError
from service.web.options import options_from_env


def test_defaults_are_two_hours_idle_twelve_hours_absolute_and_no_proxy() -> None:
    options = options_from_env({})
    assert options.session_lifetime.idle == timedelta(hours=2)
    assert options.session_lifetime.absolute == timedelta(hours=12)
    assert options.proxy_header is None
    assert options.proxy_from == ()


def test_limits_and_proxy_are_read() -> None:
    options = options_from_env(
        {
            "INCIDENTD_SESSION_IDLE_MINUTES": "45",
            "INCIDENTD_SESSION_MAX_HOURS": "8",
            "INCIDENTD_AUTH_PROXY_HEADER": "X-Forwarded-Email",
            "INCIDENTD_AUTH_PROXY_FROM": "10.0.0.0/8, 192.0.2.10",
        }
    )
    assert options.session_lifetime.idle == timedelta(minutes=45)
    assert options.session_lifetime.absolute == timedelta(hours=8)
    assert options.proxy_header == "x-forwarded-email"
    assert options.proxy_from == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.10/32"))


def test_idle_never_outlives_the_absolute_limit() -> None:
    options = options_from_env({"INCIDENTD_SESSION_IDLE_MINUTES": "600", "INCIDENTD_SESSION_MAX_HOURS": "1"})
    assert options.session_lifetime.idle == timedelta(hours=1)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"INCIDENTD_SESSION_IDLE_MINUTES": "soon"}, "INCIDENTD_SESSION_IDLE_MINUTES"),
        ({"INCIDENTD_SESSION_MAX_HOURS": "0"}, "INCIDENTD_SESSION_MAX_HOURS"),
        ({"INCIDENTD_AUTH_PROXY_HEADER": "X-Forwarded-Email"}, "INCIDENTD_AUTH_PROXY_FROM is empty"),
        (
            {"INCIDENTD_AUTH_PROXY_HEADER": "X-User", "INCIDENTD_AUTH_PROXY_FROM": "10.0.0.0/8,proxy"},
            "INCIDENTD_AUTH_PROXY_FROM entry 2",
        ),
        ({"INCIDENTD_AUTH_PROXY_HEADER": "X User:", "INCIDENTD_AUTH_PROXY_FROM": "10.0.0.1"}, "not a header"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        options_from_env(env)

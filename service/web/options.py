"""The console's timings and clock, as the composition root provides them to its routes."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from service.clock import Clock
from service.dependencies import Key
from service.web.sessions import SESSION_LIFETIME


class WebOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Timings; tests shorten the stream so reconnects happen within a test."""

    stream_seconds: float = 300.0
    heartbeat_seconds: float = 15.0
    session_lifetime: timedelta = SESSION_LIFETIME
    degraded_refresh_seconds: float = 2.0


WEB_OPTIONS: Key[WebOptions] = Key("web_options")
WEB_CLOCK: Key[Clock] = Key("web_clock")

"""A real local SMTP server (aiosmtpd) for tests: records what it accepts, refuses what it is told to."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None
    encrypted: bool


@dataclass
class _Handler:
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply, e.g. "451 4.3.0 later"
    received: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data if isinstance(session.auth_data, str) else None
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, login, encrypted))
        return "250 Message accepted"


class SmtpServer:
    """`users`: login -> password accepted by AUTH (over plain text: tests only)."""

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        """`tls`: offer STARTTLS (and require it), or with `implicit_tls` speak TLS from the first byte."""
        self._handler = _Handler()
        self._users = users
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._controller = Controller(
            self._handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate if users is not None else None,
            auth_required=False,  # offered, and used by any client that has a login
            auth_require_tls=False,
            **(
                {}
                if tls is None
                else {"ssl_context": tls}
                if implicit_tls
                else {"tls_context": tls, "require_starttls": True}
            ),
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self._users is not None:
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if self._users.get(login) == password:
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    @property
    def received(self) -> list[Received]:
        return self._handler.received

    @property
    def refuse(self) -> dict[str, str]:
        return self._handler.refuse

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

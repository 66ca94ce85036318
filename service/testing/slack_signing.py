"""Requests exactly as Slack sends them: form-encoded bodies, v0 signatures, the same fields.

Used by the tests, the benchmark, the demo and the end-to-end test, so all of them speak to
/slack/commands and /slack/interactions the way Slack does.

CLI (the secret comes from the environment, never from argv where `ps` would show it):
    SLACK_SIGNING_SECRET=... python -m service.testing.slack_signing \
        --url http://127.0.0.1:8080/slack/commands ack 42
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

TEAM_ID = "T0INCIDENTD"
APP_ID = "A0INCIDENTD"


def signature_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def _trigger_id() -> str:
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def command_body(
    text: str,
    *,
    command: str = "/incident",
    user_id: str = "U0ALICE",
    user_name: str = "alice",
    channel_id: str = "C0INCIDENTS",
    channel_name: str = "incidents",
    response_url: str = "https://hooks.slack.com/commands/T0INCIDENTD/1/x",
) -> bytes:
    """The body of a slash command, fields in Slack's order, spaces as `+` like Slack encodes them."""
    fields = {
        "token": "verification-token-deprecated",
        "team_id": TEAM_ID,
        "team_domain": "incidentd",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": _trigger_id(),
    }
    return urlencode(fields).encode()


def block_actions_payload(
    action_id: str,
    value: str,
    *,
    user_id: str = "U0ALICE",
    user_name: str = "alice",
    channel_id: str = "C0INCIDENTS",
    channel_name: str = "incidents",
    response_url: str = "https://hooks.slack.com/actions/T0INCIDENTD/1/x",
    message_ts: str = "1767225600.000100",
) -> dict[str, Any]:
    """A `block_actions` payload for a button on a channel message, shaped like Slack's."""
    labels = {"incident_ack": "Acknowledge", "incident_resolve": "Resolve", "incident_escalate": "Escalate"}
    button = {
        "action_id": action_id,
        "block_id": f"incident-{value}",
        "text": {"type": "plain_text", "text": labels.get(action_id, action_id), "emoji": True},
        "value": value,
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "verification-token-deprecated",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": _trigger_id(),
        "team": {"id": TEAM_ID, "domain": "incidentd"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": {
            "type": "message",
            "ts": message_ts,
            "bot_id": "B0INCIDENTD",
            "text": f"INC-{value}",
            "blocks": [{"type": "actions", "block_id": f"incident-{value}", "elements": [button]}],
        },
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [button],
    }


def interaction_body(payload: Mapping[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def signed_command(
    secret: str, text: str, *, timestamp: int | None = None, **fields: Any
) -> tuple[bytes, dict[str, str]]:
    body = command_body(text, **fields)
    return body, signature_headers(secret, body, timestamp)


def signed_interaction(
    secret: str, payload: Mapping[str, Any], *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = interaction_body(payload)
    return body, signature_headers(secret, body, timestamp)


def send_command(url: str, secret: str, text: str, *, timeout: float = 5.0, **fields: Any) -> tuple[int, str]:
    """POST a signed slash command to `url`; returns (status, response body)."""
    body, headers = signed_command(secret, text, **fields)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except urllib.error.URLError as exc:
        return 0, f"could not reach {url}: {exc.reason}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Send a slash command signed as Slack signs it.")
    parser.add_argument("--url", default="http://127.0.0.1:8080/slack/commands")
    parser.add_argument("--command", default="/incident")
    parser.add_argument("--user-id", default="U0ALICE")
    parser.add_argument("--user-name", default="alice")
    parser.add_argument("--channel", default="incidents")
    parser.add_argument("--response-url", default="https://hooks.slack.com/commands/T0INCIDENTD/1/x")
    parser.add_argument("text", nargs="*", help="what follows the command, e.g. ack 42")
    args = parser.parse_args(argv)
    secret = os.environ.get("SLACK_SIGNING_SECRET", "")
    if not secret:
        print("SLACK_SIGNING_SECRET is not set", file=sys.stderr)
        return 2
    status, text = send_command(
        args.url,
        secret,
        " ".join(args.text),
        command=args.command,
        user_id=args.user_id,
        user_name=args.user_name,
        channel_name=args.channel,
        response_url=args.response_url,
    )
    print(status)
    print(text)
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())

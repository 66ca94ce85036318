"""A fake Slack Web API: auth.test, chat.postMessage, chat.update, chat.postEphemeral, and the
directory methods usergroups.list, users.list (paged by `cursor`/`limit`) and users.lookupByEmail,
and the reads conversations.list, conversations.history and conversations.replies.

Like Slack: the token comes as `Authorization: Bearer xoxb-...` (else
`not_authed` / `invalid_auth`); bodies may be JSON or form-encoded (form `blocks`
is a JSON string); channels are known by name (`#alerts`, `alerts`) or id, and
postMessage answers with the channel id; chat.update needs that id and an
existing ts (`channel_not_found`, `message_not_found`); errors are HTTP 200
with `{"ok": false, "error": ...}`. Slack's documented message limits hold:
more than 50 blocks or a section text over 3,000 characters is `invalid_blocks`,
and `text` beyond 40,000 characters is truncated as Slack does. A message keeps the `metadata` it
was posted with, and the reads return it only with `include_all_metadata=true`, as Slack does; history
lists a channel's
top-level messages newest first (from `oldest`, `limit` per page, `cursor` to page on), replies a
thread's parent and then its replies, oldest first.

Run: python -m service.testing.fake_slack --port 9401
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from service.testing.fake_service import FakeService, serve_main

DEFAULT_CHANNELS = ("alerts", "alerts-critical", "incidents", "oncall", "database")
# The people of the demo's escalation policy; `users.list` members and `usergroups.list` groups.
DEFAULT_USERS = (
    {"id": "U0ONCALL", "name": "oncall-alice", "email": "alice@example.com"},
    {"id": "U0TECHLEAD", "name": "tech-lead", "email": "lead@example.com"},
    {"id": "U0ENGMGR", "name": "eng-manager", "email": "manager@example.com"},
)
_SCOPES = {
    "usergroups.list": "usergroups:read",
    "users.list": "users:read",
    "users.lookupByEmail": "users:read.email",
}
DEFAULT_USERGROUPS = (
    {"id": "S0ONCALL", "handle": "oncall", "name": "On-call engineers"},
    {"id": "S0TECHLEADS", "handle": "tech-leads", "name": "Technical leads"},
)
MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3000
TEXT_TRUNCATED_AT = 40_000


def blocks_problem(blocks: Any) -> str | None:
    """Slack's answer to blocks beyond its documented limits, or None when they are acceptable."""
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict):
            return "invalid_blocks"
        text = block.get("text") if block.get("type") == "section" else None
        if isinstance(text, dict) and len(str(text.get("text", ""))) > SECTION_TEXT_MAX:
            return "invalid_blocks"
    return None


@dataclass
class SlackMessage:
    channel_id: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    updates: int = 0
    metadata: dict[str, Any] | None = None

    def as_slack(self, with_metadata: bool) -> dict[str, Any]:
        shown: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        if self.thread_ts is not None:
            shown["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata:
            shown["metadata"] = self.metadata
        return shown


@dataclass
class FakeSlack(FakeService):
    channel_names: tuple[str, ...] = DEFAULT_CHANNELS
    token: str | None = None  # when set, only this token is valid
    messages: dict[str, SlackMessage] = field(default_factory=dict)
    users: tuple[dict[str, str], ...] = DEFAULT_USERS
    usergroups: tuple[dict[str, str], ...] = DEFAULT_USERGROUPS
    granted: frozenset[str] | None = None  # the bot's scopes; None: every scope the directory needs
    _clock: float = 0.0

    def error_body(self, status: int) -> dict[str, Any]:
        return {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}

    def channel_id(self, name: str) -> str | None:
        ids = {f"C{index:08d}": n for index, n in enumerate(self.channel_names, start=1)}
        if name in ids:
            return name
        cleaned = name.lstrip("#")
        return next((cid for cid, n in ids.items() if n == cleaned), None)

    def calls(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r["body"] for r in self.received if r["path"] == f"/api/{method}" and r.get("ok")]

    def top_level(self, channel: str) -> list[SlackMessage]:
        cid = self.channel_id(channel)
        with self._lock:
            return [m for m in self.messages.values() if m.channel_id == cid and m.thread_ts is None]

    def replies(self, ts: str) -> list[SlackMessage]:
        with self._lock:
            return [m for m in self.messages.values() if m.thread_ts == ts]

    def _next_ts(self) -> str:
        self._clock = max(time.time(), self._clock + 0.000001)
        return f"{self._clock:.6f}"

    def _authed(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return "not_authed"
        token = header[7:].strip()
        if not token.startswith(("xoxb-", "xoxp-")) or (self.token is not None and token != self.token):
            return "invalid_auth"
        return None

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        raw = await request.read()
        if request.content_type == "application/json":
            decoded = json.loads(raw or b"{}")
            return decoded if isinstance(decoded, dict) else {}
        body: dict[str, Any] = dict(parse_qsl(raw.decode()))
        if isinstance(body.get("blocks"), str):
            body["blocks"] = json.loads(body["blocks"])
        return body

    def _answer(self, request: web.Request, body: dict[str, Any], answer: dict[str, Any]) -> web.Response:
        with self._lock:
            self.received.append(
                {"path": request.path, "at": time.time(), "body": body, "ok": answer.get("ok", False)}
            )
        return web.json_response(answer)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        cid = self.channel_id(str(body.get("channel", "")))
        if cid is None:
            return {"ok": False, "error": "channel_not_found"}
        text, blocks = body.get("text"), body.get("blocks")
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if blocks and (problem := blocks_problem(blocks)):
            return {"ok": False, "error": problem}
        text = str(text or "")[:TEXT_TRUNCATED_AT]
        thread_ts = body.get("thread_ts")
        if thread_ts is not None and str(thread_ts) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        metadata = body.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        ts = self._next_ts()
        with self._lock:
            self.messages[ts] = SlackMessage(
                cid, ts, str(text or ""), list(blocks or []), thread_ts, metadata=metadata or None
            )
        return {"ok": True, "channel": cid, "ts": ts, "message": {"text": text or "", "ts": ts}}

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        cid = str(body.get("channel", ""))
        if not cid.startswith("C") or self.channel_id(cid) != cid:
            return {"ok": False, "error": "channel_not_found"}
        ts = str(body.get("ts", ""))
        if body.get("blocks") and (problem := blocks_problem(body["blocks"])):
            return {"ok": False, "error": problem}
        with self._lock:
            message = self.messages.get(ts)
            if message is None or message.channel_id != cid:
                return {"ok": False, "error": "message_not_found"}
            message.text = str(body.get("text") or message.text)[:TEXT_TRUNCATED_AT]
            message.blocks = list(body.get("blocks") or message.blocks)
            message.updates += 1
        return {"ok": True, "channel": cid, "ts": ts, "text": message.text}

    def _member(self, user: dict[str, str]) -> dict[str, Any]:
        profile = {"display_name": user["name"], "real_name": user["name"], "email": user.get("email", "")}
        return {"id": user["id"], "name": user["name"], "deleted": False, "profile": profile}

    def _users_list(self, body: dict[str, Any]) -> dict[str, Any]:
        start = int(body.get("cursor") or 0)
        limit = max(1, min(int(body.get("limit") or 200), 1000))
        page = self.users[start : start + limit]
        more = start + limit < len(self.users)
        return {
            "ok": True,
            "members": [self._member(u) for u in page],
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _lookup_by_email(self, body: dict[str, Any]) -> dict[str, Any]:
        email = str(body.get("email", "")).lower()
        user = next((u for u in self.users if u.get("email", "").lower() == email), None)
        return {"ok": True, "user": self._member(user)} if user else {"ok": False, "error": "users_not_found"}

    def _directory(self, name: str, body: dict[str, Any]) -> dict[str, Any] | None:
        needed = _SCOPES.get(name)
        if needed and self.granted is not None and needed not in self.granted:
            return {
                "ok": False,
                "error": "missing_scope",
                "needed": needed,
                "provided": ",".join(self.granted),
            }
        if name == "usergroups.list":
            return {"ok": True, "usergroups": [dict(g) for g in self.usergroups]}
        if name == "users.list":
            return self._users_list(body)
        if name == "users.lookupByEmail":
            return self._lookup_by_email(body)
        return None

    def _list(self, body: dict[str, Any]) -> dict[str, Any]:
        channels = [{"id": self.channel_id(n), "name": n, "is_channel": True} for n in self.channel_names]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _history(self, body: dict[str, Any]) -> dict[str, Any]:
        cid = str(body.get("channel", ""))
        if self.channel_id(cid) != cid:
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(body.get("oldest") or 0)
        limit = max(1, min(int(body.get("limit") or 100), 999))
        start = int(body.get("cursor") or 0)
        with self._lock:
            found = sorted(
                (m for m in self.messages.values() if m.channel_id == cid and m.thread_ts is None),
                key=lambda m: float(m.ts),
                reverse=True,
            )
        found = [m for m in found if float(m.ts) >= oldest]
        page = found[start : start + limit]
        more = start + limit < len(found)
        metadata = str(body.get("include_all_metadata", "")).lower() == "true"
        return {
            "ok": True,
            "messages": [m.as_slack(metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _replies(self, body: dict[str, Any]) -> dict[str, Any]:
        cid, ts = str(body.get("channel", "")), str(body.get("ts", ""))
        with self._lock:
            parent = self.messages.get(ts)
            if parent is None or parent.channel_id != cid:
                return {"ok": False, "error": "thread_not_found"}
            replies = [m for m in self.messages.values() if m.thread_ts == ts]
            thread = [parent, *sorted(replies, key=lambda m: float(m.ts))]
        metadata = str(body.get("include_all_metadata", "")).lower() == "true"
        return {"ok": True, "messages": [m.as_slack(metadata) for m in thread], "has_more": False}

    def routes(self) -> list[web.RouteDef]:
        async def method(request: web.Request) -> web.Response:
            name = request.match_info["method"]
            try:
                body = dict(request.query) if request.method == "GET" else await self._body(request)
            except (ValueError, UnicodeDecodeError):
                return self._answer(request, {}, {"ok": False, "error": "invalid_json"})
            problem = self._authed(request)
            if problem:
                return self._answer(request, body, {"ok": False, "error": problem})
            if name == "auth.test":
                answer = {"ok": True, "team": "fake", "user": "incidentd", "bot_id": "B00000001",
                          "url": "https://fake-workspace.slack.test/"}  # fmt: skip
            elif name == "chat.postMessage":
                answer = self._post(body)
            elif name == "chat.update":
                answer = self._update(body)
            elif name == "chat.postEphemeral":
                answer = self._post({k: v for k, v in body.items() if k != "thread_ts"})
                if answer.get("ok") and not body.get("user"):
                    answer = {"ok": False, "error": "user_not_in_channel"}
                elif answer.get("ok"):
                    answer = {"ok": True, "message_ts": answer["ts"]}
            elif name == "conversations.list":
                answer = self._list(body)
            elif name == "conversations.history":
                answer = self._history(body)
            elif name == "conversations.replies":
                answer = self._replies(body)
            else:
                answer = self._directory(name, body) or {"ok": False, "error": "unknown_method"}
            return self._answer(request, body, answer)

        return [web.post("/api/{method}", method), web.get("/api/{method}", method)]


def main() -> None:
    serve_main(FakeSlack(), __doc__ or "", 9401)


if __name__ == "__main__":
    main()

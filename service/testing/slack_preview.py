"""An HTML page showing the fake Slack's channels roughly as people would see them.

For looking at our messages (the demo writes one; screenshots come from Chromium), not a
faithful Slack client: it renders the mrkdwn subset we send (bold, italic, code, links,
user and user-group mentions, entities, a few emoji) and the Block Kit blocks we use.
Literal characters stay literal, so an escaping mistake shows up as markup on the page.
"""

from __future__ import annotations

import html
import re
from typing import Any

from service.testing.fake_slack import FakeSlack, SlackMessage

_EMOJI = {
    "red_circle": "🔴", "large_orange_circle": "🟠", "large_yellow_circle": "🟡", "white_circle": "⚪",
    "rotating_light": "🚨", "eyes": "👀", "adhesive_bandage": "🩹", "white_check_mark": "✅",
    "arrow_double_up": "⏫", "warning": "⚠️", "memo": "📝", "thunder_cloud_and_rain": "⛈️",
    "alarm_clock": "⏰", "clipboard": "📋",
}  # fmt: skip
_TOKEN = re.compile(r"<(?P<body>[^<>]+)>")
_STYLE = """
body{font:15px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;background:#f8f8f8;margin:24px}
.channel{background:#fff;border:1px solid #ddd;border-radius:8px;margin:0 0 24px;padding:12px 18px;
max-width:820px}
.channel h2{font-size:16px;margin:0 0 8px;color:#1d1c1d}.msg{padding:8px 0;border-top:1px solid #eee}
.who{font-weight:700}.ts{color:#616061;font-size:12px;margin-left:6px}.fields{display:grid;
grid-template-columns:1fr 1fr;gap:6px;margin:6px 0}.ctx{color:#616061;font-size:13px}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}a{color:#1264a3}
code{background:#f3f3f3;border:1px solid #ddd;border-radius:3px;padding:0 3px;color:#e01e5a}
.btn{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:2px 10px;margin:4px 6px 0 0;
font-weight:700;font-size:13px}.primary{background:#007a5a;color:#fff}.danger{color:#e01e5a}
.thread{margin:4px 0 0 28px;border-left:3px solid #ddd;padding-left:10px}
"""


def _token(body: str, names: dict[str, str]) -> str:
    target, _, label = body.partition("|")
    if target.startswith("@"):
        shown = label or names.get(target[1:], target[1:])
        return f'<span class="mention">@{html.escape(shown)}</span>'
    if target.startswith("!subteam^"):
        return f'<span class="mention">{html.escape(label or "@group")}</span>'
    if target.startswith("!"):
        return f'<span class="mention">@{html.escape(target[1:])}</span>'
    return f'<a href="{html.escape(target)}">{html.escape(html.unescape(label or target))}</a>'


def mrkdwn(text: str, names: dict[str, str] | None = None) -> str:
    """Slack mrkdwn to HTML: tokens first, then entities, then the formatting Slack applies."""
    parts: list[str] = []
    last = 0
    for match in _TOKEN.finditer(text):
        parts.append(_inline(text[last : match.start()]))
        parts.append(_token(match.group("body"), names or {}))
        last = match.end()
    parts.append(_inline(text[last:]))
    return "".join(parts).replace("\n", "<br>")


def _inline(text: str) -> str:
    plain = html.escape(html.unescape(text), quote=False)
    plain = re.sub(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])", r"<b>\1</b>", plain)
    plain = re.sub(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])", r"<i>\1</i>", plain)
    plain = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", plain)
    return re.sub(r":([a-z0-9_+-]+):", lambda m: _EMOJI.get(m.group(1), m.group(0)), plain)


def _text(obj: dict[str, Any], names: dict[str, str]) -> str:
    raw = str(obj.get("text", ""))
    return mrkdwn(raw, names) if obj.get("type") == "mrkdwn" else html.escape(raw)


def _block(block: dict[str, Any], names: dict[str, str]) -> str:
    kind = block.get("type")
    if kind == "section":
        out = f"<div>{_text(block['text'], names)}</div>" if block.get("text") else ""
        fields = "".join(f"<div>{_text(f, names)}</div>" for f in block.get("fields") or [])
        return out + (f'<div class="fields">{fields}</div>' if fields else "")
    if kind == "context":
        return '<div class="ctx">' + " ".join(_text(e, names) for e in block.get("elements") or []) + "</div>"
    if kind == "actions":
        buttons = [
            f'<span class="btn {html.escape(str(e.get("style", "")))}">'
            f"{html.escape(e['text']['text'])}</span>"
            for e in block.get("elements") or []
        ]
        return "<div>" + "".join(buttons) + "</div>"
    if kind == "header":
        return f"<h3>{html.escape(str(block['text']['text']))}</h3>"
    return f"<div><code>{html.escape(str(kind))} block</code></div>"


def _message(message: SlackMessage, names: dict[str, str]) -> str:
    body = (
        "".join(_block(b, names) for b in message.blocks) if message.blocks else mrkdwn(message.text, names)
    )
    edited = " (edited)" if message.updates else ""
    return f'<div class="msg"><span class="who">incidentd</span><span class="ts">{edited}</span>{body}</div>'


def render(slack: FakeSlack) -> str:
    """Every channel's top-level messages with their threads, as one HTML page."""
    sections: list[str] = []
    names = {u["id"]: u["name"] for u in slack.users}
    for name in slack.channel_names:
        messages = slack.top_level(name)
        if not messages:
            continue
        items = []
        for message in messages:
            thread = "".join(_message(r, names) for r in slack.replies(message.ts))
            items.append(_message(message, names) + (f'<div class="thread">{thread}</div>' if thread else ""))
        sections.append(f'<div class="channel"><h2>#{html.escape(name)}</h2>{"".join(items)}</div>')
    return f"<!doctype html><meta charset=utf-8><style>{_STYLE}</style>{''.join(sections)}"

"""Text that is not ours, made safe for Slack mrkdwn and for PagerDuty's plain text.

Slack reads `<...>` as a link or mention and `&`, `<`, `>` must be sent as entities,
so escaping those three means a title can never ping `<!channel>` or fake a link.
mrkdwn has no escape for `*`, `_`, `~` and backticks: outside text gets look-alike
characters instead, so `*bold*` in a metric label stays the literal it was. Newlines
are flattened and a leading `>` becomes U+203A, so outside text cannot start a quote or a line of its own.
Only this module's `link` and mention helpers and our own literals may put markup into a message.
"""

from __future__ import annotations

import re
from typing import Literal

from service.domain.links import is_url

TargetKind = Literal["user", "usergroup"]
TargetName = tuple[TargetKind, str]  # an escalation target as the policy spells it

_FORMATTING = str.maketrans({"*": "\u2217", "~": "\u223c", "`": "\u02cb"})
# An underscore only formats at a word's edge (`_word_`); inside `http_requests_total` it is literal.
_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_SLACK_ID = re.compile(r"[UWS][A-Z0-9]{2,}")


def one_line(text: object) -> str:
    """Collapse control characters and newlines to single spaces (also what PagerDuty text gets)."""
    return " ".join(_CONTROL.sub(" ", str(text)).split())


def escape(text: object) -> str:
    """Outside text as literal mrkdwn: no mention, link, entity, formatting or new line escapes."""
    flat = one_line(text)
    if flat.startswith(">"):  # at the start of a line (a field's value) `>` would begin a quote
        flat = "\u203a" + flat[1:]
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _EDGE_UNDERSCORE.sub("\u02cd", flat.translate(_FORMATTING))


def code(text: object) -> str:
    """Outside text inside a `code span`: formatting is inert there, so `=~` and `*` stay as typed (a
    matcher must read as amtool takes it); only entities and a closing backtick need care."""
    flat = one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"`{flat.replace('`', chr(0x2CB))}`"


def link(url: str, label: str) -> str:
    """A mrkdwn link to one of our URLs (or a checked runbook URL), with an escaped label."""
    if not is_url(url):
        return escape(label)
    safe = url.strip().replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{escape(label)}>"


def user_mention(slack_id: str) -> str:
    return f"<@{slack_id}>" if _SLACK_ID.fullmatch(slack_id) else escape(slack_id)


def usergroup_mention(slack_id: str, handle: str) -> str:
    if not _SLACK_ID.fullmatch(slack_id):
        return escape(handle)
    return f"<!subteam^{slack_id}|@{escape(handle.lstrip('@'))}>"

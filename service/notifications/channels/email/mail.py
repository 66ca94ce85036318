"""Building the MIME message: a plain-text part and a sanitised HTML part, threaded per incident.

Every message of one incident to one address shares a thread: the first carries the thread's
root Message-ID, the later ones `In-Reply-To` and `References` it, so mail clients group them.
HTML a caller hands us is cleaned by nh3 (an allow-list), never trusted.
"""

from __future__ import annotations

import html
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import nh3

_TAGS = {"p", "br", "b", "strong", "i", "em", "a", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th",
         "td", "h1", "h2", "h3", "h4", "pre", "code", "span", "div", "hr", "small"}  # fmt: skip


def sanitise(markup: str) -> str:
    cleaned: str = nh3.clean(markup, tags=_TAGS, attributes={"a": {"href", "title"}}, link_rel="noopener")
    return cleaned


def text_to_html(text: str) -> str:
    """Plain text as HTML: every character escaped, lines kept."""
    return '<pre style="font-family: sans-serif; white-space: pre-wrap">' + html.escape(text) + "</pre>"


def thread_id(thread: str, domain: str) -> str:
    return f"<{thread}@{domain}>"


def build(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html_part: str | None,
    domain: str,
    message_key: str,
    thread: str | None,
    first_in_thread: bool,
    now: datetime,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = " ".join(subject.split())[:200]
    message["Date"] = format_datetime(now)
    if thread is not None:
        root = thread_id(thread, domain)
        if first_in_thread:
            message["Message-ID"] = root
        else:
            message["Message-ID"] = f"<{message_key}.{thread}@{domain}>"
            message["In-Reply-To"] = root
            message["References"] = root
    else:
        message["Message-ID"] = make_msgid(idstring=message_key, domain=domain)
    message.set_content(text)
    message.add_alternative(
        sanitise(html_part) if html_part is not None else text_to_html(text), subtype="html"
    )
    return message

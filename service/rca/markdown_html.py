"""Markdown to HTML that is safe to put in a reader's page.

An RCA is written by many people, and whatever one of them types ends up in
everyone else's browser. markdown-it renders CommonMark (with tables) and lets
raw HTML through, because authors paste it and our markers are HTML comments;
nh3 (ammonia) then keeps only an allow-list of tags and attributes, drops
comments, scripts and event handlers, and allows only http, https and mailto
URLs (plus relative ones, for the chart at /api/v1/incidents/{id}/rca/chart.svg).
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table")

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q",
        "s", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "ol": {"start"},
    "code": {"class"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def markdown_to_safe_html(markdown: str) -> str:
    rendered = _MARKDOWN.render(markdown)
    cleaned: str = nh3.clean(
        rendered,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return cleaned

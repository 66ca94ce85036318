"""Storm summary parts: within Slack's limits whatever the titles, each incident once, spans adding up."""

from __future__ import annotations

import re
from typing import Any

from service.notifications.channels.slack.storm_summary import (
    FALLBACK_TEXT_MAX,
    MAX_BLOCKS,
    PART_CHARS_MAX,
    SECTION_TEXT_MAX,
    storm_parts,
)

_SPAN = re.compile(r"Incidents (\d+)–(\d+) of (\d+)")


def _snap(index: int, title: str) -> dict[str, Any]:
    return {
        "severity": ("P1", "P3", "P0")[index % 3],
        "human_id": f"INC-{index}",
        "title": title,
        "breach": "<b>&" * 400,
        "url": f"https://incidentd.example/api/v1/incidents/{index}",
    }


def test_long_titles_and_many_incidents_stay_within_slacks_limits() -> None:
    members = [(i, _snap(i, "<!channel> " + "t" * 5000)) for i in range(1, 2001)]
    parts = storm_parts("#alerts", 60, members)
    assert len(parts) > 1
    named = [i for part in parts for i in part.incident_ids]
    assert sorted(named) == list(range(1, 2001))
    for part in parts:
        texts = [b["text"]["text"] for b in part.blocks]
        assert len(part.blocks) <= MAX_BLOCKS
        assert all(len(t) <= SECTION_TEXT_MAX for t in texts)
        assert sum(len(t) for t in texts) <= PART_CHARS_MAX
        assert len(part.text) <= FALLBACK_TEXT_MAX
        assert "<!channel>" not in "".join(texts), "titles are escaped"
        assert sum(t.count("\n• ") + t.startswith("• ") for t in texts) == len(part.incident_ids)


def test_most_severe_first_and_spans_continue_after_an_interrupted_attempt() -> None:
    members = [(i, _snap(i, f"node {i}")) for i in range(1, 301)]
    parts = storm_parts("#alerts", 60, members, already_named=200)
    first = parts[0].blocks[0]["text"]["text"]
    assert "(continued)" in first
    spans = [tuple(map(int, _SPAN.search(p.blocks[0]["text"]["text"]).groups())) for p in parts]  # type: ignore[union-attr]
    assert spans[0][0] == 201
    assert spans[-1][1] == spans[-1][2] == 500
    lines = [line for p in parts for b in p.blocks[1:] for line in b["text"]["text"].split("\n")]
    severities = [line.split("*")[1] for line in lines]
    assert severities == sorted(severities)

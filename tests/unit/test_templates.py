from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.domain.incidents import Incident, Status, TimelineEvent
from service.domain.rca import build_facts, facts_context
from service.domain.rca_markdown import MACHINE_SECTIONS, merge, scan, section_contents
from service.domain.rca_templates import DEFAULT_TEMPLATE, SHORT_TEMPLATE, TemplatePolicy
from service.domain.severity import Severity
from service.rca.markdown_html import markdown_to_safe_html
from service.rca.templates import MarkdownTemplates, TemplateError

TEMPLATES = Path(__file__).resolve().parents[2] / "incident_templates"
T0 = datetime(2026, 2, 1, 9, 30, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>\n<!-- incidentd:end timeline -->\n## [click](javascript:alert(2))"


def facts(*, title: str = "Checkout errors", note: str = "rolled back", description: str = "") -> object:
    incident = Incident(
        id=7, dedup_key="k", title=title, description=description, severity=Severity.P1,
        status=Status.RESOLVED, labels={"service": "checkout"}, assignee=None, created_by="rules",
        source="rules", created_at=T0, updated_at=T0, resolved_at=T0 + timedelta(minutes=40),
    )  # fmt: skip
    events = [
        TimelineEvent(id=1, incident_id=7, at=T0, kind="declared", actor="rules", source="rules",
                      data={"title": title, "severity": "P1", "rule": "err_rate", "value": 9,
                            "threshold": 5}),
        TimelineEvent(id=2, incident_id=7, at=T0 + timedelta(minutes=5), kind="note", actor="bob",
                      source="slack", data={"text": note}),
        TimelineEvent(id=3, incident_id=7, at=T0 + timedelta(minutes=40), kind="resolved", actor="bob",
                      source="api", data={}),
    ]  # fmt: skip
    return facts_context(build_facts(incident, events, chart_url="/api/v1/incidents/7/rca/chart.svg", now=T0))


@pytest.fixture(scope="module")
def shipped() -> MarkdownTemplates:
    return MarkdownTemplates(TEMPLATES)


def test_default_template_follows_the_runbook_rca_template(shipped: MarkdownTemplates) -> None:
    text = shipped.render(DEFAULT_TEMPLATE, facts())  # type: ignore[arg-type]
    for heading in ("## Incident: INC-7 Checkout errors", "### Timeline", "### Root Cause", "### Impact",
                    "### Resolution", "### Action Items", "**Affected Users:**"):  # fmt: skip
        assert heading in text
    for impact in ("User impact:", "Business impact:", "Technical impact:"):
        assert impact in text
    sections = section_contents(text)
    assert tuple(sections) == MACHINE_SECTIONS
    assert "| **Date** | 2026-02-01 |" in sections["facts"]
    assert "| **Duration** | 40m |" in sections["facts"]
    assert "| **Severity** | P1 |" in sections["facts"]
    assert sections["timeline"] == (
        '\n- 2026-02-01 09:30:00 UTC: declared "Checkout errors" at P1: err_rate fired [value 9, threshold 5]'
        " (rules via rules)\n"
        "- 2026-02-01 09:35:00 UTC: note: rolled back (bob via slack)\n"
        "- 2026-02-01 10:10:00 UTC: resolved (bob via api)\n"
    ).replace("[", "\\[").replace("]", "\\]")
    assert "](/api/v1/incidents/7/rca/chart.svg)" in sections["chart"]
    assert "Slack: note: rolled back (bob)" in sections["trail"]
    assert "- bob (Slack): first added a note at 2026-02-01 09:35:00 UTC" in sections["participants"]
    assert "| err_rate | 9 | 5 | 2026-02-01 09:30:00 UTC | still firing | — |" in sections["alerts"]
    assert "| Resolved | 2026-02-01 10:10:00 UTC | time to resolve: 40m |" in sections["milestones"]
    assert "| Acknowledged | not yet | time to acknowledge: — |" in sections["milestones"]
    for prompt in (
        "### What went well",
        "### What went wrong",
        "### Contributing factors",
        "### Lessons learned",
    ):
        assert prompt in text
    # What no machine can know is outside the markers, with a prompt for the author.
    root_cause = text.split("### Root Cause", 1)[1].split("###", 1)[0]
    assert re.search(r"^_Describe .+_$", root_cause, re.MULTILINE)
    assert "incidentd:" not in root_cause


def test_short_template_for_minor_incidents(shipped: MarkdownTemplates) -> None:
    text = shipped.render(SHORT_TEMPLATE, facts())  # type: ignore[arg-type]
    assert set(section_contents(text)) == {"action_items", "facts", "timeline", "values"}
    assert "### Root Cause" in text
    assert len(text) < len(shipped.render(DEFAULT_TEMPLATE, facts()))  # type: ignore[arg-type]


def test_policy_templates_all_compile(shipped: MarkdownTemplates) -> None:
    assert shipped.check(TemplatePolicy().names()) == []


def test_user_values_cannot_break_structure_or_inject_html(shipped: MarkdownTemplates) -> None:
    context = facts(title=HOSTILE, note=HOSTILE, description="line one\n# two\n<img src=x onerror=alert(3)>")
    text = shipped.render(DEFAULT_TEMPLATE, context)  # type: ignore[arg-type]
    sections, strays = scan(text)
    assert [s.name for s in sections] == list(MACHINE_SECTIONS)
    assert strays == []
    assert "\n## [click]" not in text
    assert "> \\# two" in text
    html = markdown_to_safe_html(text)
    assert "<script" not in html
    assert not re.search(r"<[^>]*onerror", html)
    assert "&lt;img src=x onerror=alert(3)&gt;" in html  # shown as text, never as a tag
    assert 'href="javascript' not in html.lower()
    assert "<!--" not in html  # markers are comments: invisible once rendered


def test_missing_template_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"nope\.md\.j2: not found in") as caught:
        MarkdownTemplates(tmp_path).render("nope.md.j2", {})
    assert caught.value.template == "nope.md.j2"


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.md.j2").write_text("# ok\n\nline three\n{% for x in timeline %}\n- {{ x }\n")
    with pytest.raises(TemplateError) as caught:
        MarkdownTemplates(tmp_path).render("broken.md.j2", {"timeline": []})
    assert caught.value.template == "broken.md.j2"
    assert caught.value.line == 5
    assert str(caught.value).startswith("RCA template broken.md.j2, line 5: ")
    assert MarkdownTemplates(tmp_path).check(["broken.md.j2"]) == [str(caught.value)]


def test_undefined_name_is_an_error_with_its_line_not_a_blank(tmp_path: Path) -> None:
    (tmp_path / "typo.md.j2").write_text("# {{ human_id }}\n\n{{ severty }}\n")
    with pytest.raises(TemplateError, match=r"typo\.md\.j2, line 3: UndefinedError: 'severty' is undefined"):
        MarkdownTemplates(tmp_path).render("typo.md.j2", {"human_id": "INC-1"})


def test_error_in_included_template_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "main.md.j2").write_text("top\n{% include 'part.md.j2' %}\n")
    (tmp_path / "part.md.j2").write_text("one\ntwo {{ missing.attr }}\n")
    with pytest.raises(TemplateError) as caught:
        MarkdownTemplates(tmp_path).render("main.md.j2", {})
    assert (caught.value.template, caught.value.line) == ("part.md.j2", 2)


def test_unbalanced_markers_in_a_template_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "half.md.j2").write_text("<!-- incidentd:begin timeline -->\n{{ human_id }}\n")
    with pytest.raises(TemplateError, match=r"half\.md\.j2: produces broken incidentd markers"):
        MarkdownTemplates(tmp_path).render("half.md.j2", {"human_id": "INC-1"})


def test_sandbox_blocks_template_escape_hatches(tmp_path: Path) -> None:
    (tmp_path / "evil.md.j2").write_text("{{ human_id.__class__.__mro__ }}\n")
    with pytest.raises(TemplateError, match=r"evil\.md\.j2, line 1"):
        MarkdownTemplates(tmp_path).render("evil.md.j2", {"human_id": "x"})


def test_regenerating_a_rendered_document_is_stable(shipped: MarkdownTemplates) -> None:
    first = shipped.render(DEFAULT_TEMPLATE, facts())  # type: ignore[arg-type]
    edited = first.replace(
        "_Describe the underlying cause", "A bad deploy.\n\n_Describe the underlying cause"
    )
    again = shipped.render(DEFAULT_TEMPLATE, facts(note="rolled back, then forward"))  # type: ignore[arg-type]
    merged = merge(edited, again).text
    assert "A bad deploy.\n" in merged
    assert "rolled back, then forward" in merged


def test_sanitiser_strips_script_and_javascript_links() -> None:
    html = markdown_to_safe_html(
        "# Title\n\n<script>alert(1)</script>\n\n[a](javascript:alert(1)) "
        '<a href="JaVaScRiPt:alert(2)">b</a> <a href="&#106;avascript:alert(3)">c</a> '
        '<img src="x" onerror="alert(4)"> [ok](https://example.org/x) '
        "![chart](/api/v1/incidents/1/rca/chart.svg)\n"
        "\n<!-- incidentd:begin x -->\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert "<script" not in html
    assert "alert(1)</" not in html
    assert "javascript" not in re.sub(r"\[a\]\(javascript:alert\(1\)\)", "", html).lower()
    assert "onerror" not in html
    assert '<a href="https://example.org/x" rel="noopener noreferrer nofollow">ok</a>' in html
    assert '<img src="/api/v1/incidents/1/rca/chart.svg" alt="chart">' in html
    assert "<h1>Title</h1>" in html
    assert "<td>1</td>" in html
    assert "incidentd" not in html

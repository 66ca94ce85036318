"""RCA documents: generate from the incident's timeline, edit, regenerate, keep every version.

Each save is a new row in rca_versions; nothing is overwritten. Writers take a
row lock on the incident's rca_documents row, so of two saves based on the same
version exactly one wins and the other gets StaleVersion (HTTP 409). Rendering
happens before any transaction opens: a broken template raises TemplateError
and nothing is stored, and no pooled connection waits on Jinja.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec
import structlog

from service.adapters.postgres.database import Database
from service.clock import Clock
from service.dependencies import Key
from service.domain.action_items import ActionItem
from service.domain.charts import render_line_chart
from service.domain.incidents import Actor, Incident, TimelineEvent, format_human_id, incident_page_url
from service.domain.links import message_link
from service.domain.rca import RcaFacts, build_facts, facts_context
from service.domain.rca_chart import incident_chart
from service.domain.rca_markdown import document_problem, merge, unified_diff
from service.domain.rca_review import SlackThread
from service.domain.rca_templates import TemplatePolicy
from service.domain.rca_typed_items import typed_items, written_back
from service.incidents.service import IncidentService
from service.rca import action_items_store, store
from service.rca.action_items import ActionItems
from service.rca.store import RcaDocument, RcaVersionInfo
from service.rca.templates import MarkdownTemplates

log = structlog.get_logger(__name__)

CHART_LEAD = timedelta(minutes=15)  # how much value history before the incident opened the chart shows


def chart_path(incident_id: int) -> str:
    return f"/api/v1/incidents/{incident_id}/rca/chart.svg"


def export_names(incident_id: int) -> tuple[str, str]:
    human = format_human_id(incident_id)
    return f"{human}-rca.md", f"{human}-rca-chart.svg"


class RcaNotFound(Exception):
    def __init__(self, incident_id: int) -> None:
        super().__init__(f"{format_human_id(incident_id)} has no RCA yet; POST to its /rca to generate one")
        self.incident_id = incident_id


class RcaVersionNotFound(Exception):
    def __init__(self, incident_id: int, version: int) -> None:
        super().__init__(f"the RCA of {format_human_id(incident_id)} has no version {version}")
        self.incident_id = incident_id
        self.version = version


class ChartNotFound(Exception):
    def __init__(self, incident_id: int) -> None:
        super().__init__(
            f"the RCA of {format_human_id(incident_id)} has no chart: no numeric alert values were recorded"
        )


class InvalidDocument(Exception):
    """The submitted Markdown cannot be stored (HTTP 400)."""


class StaleVersion(Exception):
    """The edit was based on an older version than the current one (HTTP 409); nothing was written."""

    def __init__(self, incident_id: int, current: int, base: int) -> None:
        super().__init__(
            f"the RCA of {format_human_id(incident_id)} is at version {current}, but this edit is based on "
            f"version {base}; reload version {current}, reapply your changes and save again"
            f" with base_version {current}"
        )
        self.current_version = current
        self.base_version = base


class RcaWrite(msgspec.Struct, frozen=True):
    """A document and whether this call stored a new version of it."""

    document: RcaDocument
    new_version: bool
    items_created: tuple[str, ...] = ()  # AI-n of the action items this save made from typed lines
    item_problems: tuple[str, ...] = ()  # typed lines that could not become items (kept as text)
    lines_tied: bool = False  # a regenerate wrote item ids (or ticks) into typed task lines


class RcaService:
    def __init__(
        self,
        db: Database,
        incidents: IncidentService,
        templates_dir: Path,
        template_policy: TemplatePolicy | None = None,
        *,
        clock: Clock | None = None,
        public_url: str = "",
    ) -> None:
        self._public_url = public_url
        self._db = db
        self._incidents = incidents
        self._templates = MarkdownTemplates(templates_dir)
        self._policy = template_policy or TemplatePolicy()
        self._clock = clock or incidents.clock
        self._items = ActionItems(db, incidents, self._clock)

    @property
    def policy(self) -> TemplatePolicy:
        return self._policy

    def check_templates(self) -> list[str]:
        """Errors for every template the policy can pick; empty when all compile."""
        return self._templates.check(self._policy.names())

    async def _render(self, incident_id: int, template: str | None) -> tuple[str, str, str | None]:
        incident, events = await self._incidents.get(incident_id)
        name = template or self._policy.choose(incident)
        now = self._clock()
        async with self._db.connection() as conn:
            rows = await store.slack_messages(conn, incident_id)
            items = await action_items_store.for_incident(conn, incident_id)
            samples = await store.value_samples(
                conn, incident.dedup_key, incident.created_at - CHART_LEAD, incident.resolved_at or now
            )
        threads = [
            SlackThread(r["channel"], message_link(r["workspace"] or "", r["channel_id"], r["ts"]))
            for r in rows
        ]
        facts: RcaFacts = build_facts(
            incident,
            events,
            chart_url=chart_path(incident_id),
            now=now,
            incident_url=incident_page_url(self._public_url, incident_id) if self._public_url else "",
            slack_threads=threads,
            action_items=items,
            samples=samples,
        )
        markdown = self._templates.render(name, facts_context(facts))
        return name, markdown, render_line_chart(facts.chart)

    async def _lock(self, conn: asyncpg.Connection, incident_id: int) -> asyncpg.Record:
        current = await store.lock_current(conn, incident_id)
        if current is None:
            raise RcaNotFound(incident_id)
        return current

    async def get(self, incident_id: int) -> RcaDocument:
        async with self._db.connection() as conn:
            document = await store.document(conn, incident_id)
        if document is None:
            raise RcaNotFound(incident_id)
        return document

    async def generate(self, incident_id: int, actor: Actor) -> RcaWrite:
        """Create version 1, or return the existing document untouched (new_version=False)."""
        async with self._db.connection() as conn:
            existing = await store.document(conn, incident_id)
        if existing is not None:
            return RcaWrite(existing, False)
        template, markdown, chart_svg = await self._render(incident_id, None)
        async with self._db.transaction() as conn:
            inserted = await store.insert_document(conn, incident_id, template, self._clock())
            if inserted:
                await store.insert_version(
                    conn,
                    incident_id,
                    version=1,
                    markdown=markdown,
                    actor=actor,
                    reason="generated",
                    chart_svg=chart_svg,
                    at=self._clock(),
                )
        if inserted:
            log.info("rca_generated", incident_id=incident_id, template=template, actor=str(actor))
        return RcaWrite(await self.get(incident_id), inserted)

    async def save(self, incident_id: int, markdown: str, base_version: int, actor: Actor) -> RcaWrite:
        """Store an author's edit as a new version, unless someone saved since `base_version`.

        Task lines typed in the Action Items section become action items in the same transaction,
        so a version and its items commit together. The text is stored as sent; the next regenerate
        lists the items in the table and writes their `AI-n` into the lines. A line whose title the
        incident already has is not created twice, so saving the same text again is safe.
        """
        problem = document_problem(markdown)
        if problem:
            raise InvalidDocument(problem)
        typed = typed_items(markdown)
        created: list[ActionItem] = []
        async with self._incidents.transaction() as tx:
            conn = tx.conn
            current = await self._lock(conn, incident_id)
            version: int = current["current_version"]
            if base_version != version:
                raise StaleVersion(incident_id, version, base_version)
            if typed.items:
                known = {i.title.casefold() for i in await action_items_store.for_incident(conn, incident_id)}
                for line in typed.items:
                    if line.title.casefold() in known:
                        continue
                    known.add(line.title.casefold())
                    created.append(
                        await self._items.create_in(
                            tx,
                            incident_id,
                            title=line.title,
                            actor=actor,
                            owner=line.owner,
                            due_on=line.due_on,
                        )
                    )
            changed = markdown != current["markdown"]
            if changed:
                await store.insert_version(
                    conn,
                    incident_id,
                    version=version + 1,
                    markdown=markdown,
                    actor=actor,
                    reason="edited",
                    chart_svg=current["chart_svg"],
                    at=self._clock(),
                )
        if changed:
            log.info("rca_edited", incident_id=incident_id, version=version + 1, actor=str(actor))
        return RcaWrite(
            await self.get(incident_id),
            changed,
            items_created=tuple(i.ref for i in created),
            item_problems=typed.problems,
        )

    async def regenerate(self, incident_id: int, actor: Actor) -> RcaWrite:
        """Refresh the machine sections from the timeline; human text is kept byte for byte."""
        changed, tied = await self._refresh(incident_id, actor)
        return RcaWrite(await self.get(incident_id), changed, lines_tied=tied)

    async def _refresh(self, incident_id: int, actor: Actor) -> tuple[bool, bool]:
        """(stored a new version, wrote action item ids or boxes into typed lines)."""
        async with self._db.connection() as conn:
            template = await store.template_of(conn, incident_id)
        if template is None:
            raise RcaNotFound(incident_id)
        _, fresh, chart_svg = await self._render(incident_id, template)
        async with self._db.transaction() as conn:
            current = await self._lock(conn, incident_id)
            merged = merge(current["markdown"], fresh)
            items = await action_items_store.for_incident(conn, incident_id)
            text = written_back(merged.text, items)
            changed: bool = text != current["markdown"] or chart_svg != current["chart_svg"]
            version: int = current["current_version"] + 1
            if changed:
                await store.insert_version(
                    conn,
                    incident_id,
                    version=version,
                    markdown=text,
                    actor=actor,
                    reason="regenerated",
                    chart_svg=chart_svg,
                    at=self._clock(),
                )
        if changed:
            log.info(
                "rca_regenerated",
                incident_id=incident_id,
                version=version,
                sections=list(merged.replaced),
                skipped=list(merged.not_in_document),
            )
        return changed, text != merged.text

    async def versions(self, incident_id: int) -> list[RcaVersionInfo]:
        async with self._db.connection() as conn:
            found = await store.versions(conn, incident_id)
        if not found:
            raise RcaNotFound(incident_id)
        return found

    async def version_text(self, incident_id: int, version: int) -> tuple[str, RcaVersionInfo]:
        async with self._db.connection() as conn:
            found = await store.version_text(conn, incident_id, version)
        if found is None:
            await self.get(incident_id)  # RcaNotFound when there is no document at all
            raise RcaVersionNotFound(incident_id, version)
        return found

    async def diff(self, incident_id: int, from_version: int | None, to_version: int | None) -> str:
        """Unified diff between two versions; defaults compare the current version with the one before."""
        if to_version is None:
            to_version = (await self.get(incident_id)).version
        if from_version is None:
            from_version = max(to_version - 1, 1)
        old, old_info = await self.version_text(incident_id, from_version)
        new, new_info = await self.version_text(incident_id, to_version)
        human = format_human_id(incident_id)

        def label(info: RcaVersionInfo) -> str:
            when = info.created_at.isoformat()
            return f"{human}-rca v{info.version} ({info.reason} by {info.author}, {when})"

        return unified_diff(old, new, old_label=label(old_info), new_label=label(new_info))

    async def live_chart(
        self, incident: Incident, events: Sequence[TimelineEvent], now: datetime
    ) -> str | None:
        """The chart as of now, for the incident's page (an RCA version keeps the one it was made with).

        The same drawing as the RCA's, without the XML declaration, so the page can hold it inline:
        every text in it is escaped by the renderer and it carries no script or style element.
        """
        async with self._db.connection() as conn:
            samples = await store.value_samples(
                conn, incident.dedup_key, incident.created_at - CHART_LEAD, incident.resolved_at or now
            )
        svg = render_line_chart(incident_chart(incident, events, now, samples))
        return svg.split("\n", 1)[1] if svg is not None and svg.startswith("<?xml") else svg

    async def chart_svg(self, incident_id: int) -> str:
        async with self._db.connection() as conn:
            svg = await store.current_chart(conn, incident_id)
        if svg is None:
            await self.get(incident_id)
            raise ChartNotFound(incident_id)
        return svg

    async def export_markdown(self, incident_id: int) -> tuple[str, str]:
        """(file name, Markdown) of the current version, for a download."""
        document = await self.get(incident_id)
        return export_names(incident_id)[0], document.markdown

    async def export_files(self, incident_id: int, directory: Path) -> list[Path]:
        """Write INC-N-rca.md and, when there is a chart, INC-N-rca-chart.svg beside it.

        The chart link is rewritten to the neighbouring file so the export reads offline.
        Each file is written to a temporary name and renamed, so a crash leaves no half file.
        """
        document = await self.get(incident_id)
        md_name, svg_name = export_names(incident_id)
        markdown = document.markdown
        files: dict[str, str] = {}
        if document.has_chart:
            files[svg_name] = await self.chart_svg(incident_id)
            markdown = markdown.replace(chart_path(incident_id), svg_name)
        files[md_name] = markdown
        return await asyncio.to_thread(_write_atomically, directory, files)


def _write_atomically(directory: Path, files: dict[str, str]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in files.items():
        target = directory / name
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                out.write(text)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


RCA: Key[RcaService] = Key("rca")

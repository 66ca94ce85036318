"""`incidentd report daily --print | --send`: the daily summary now, printed or queued for delivery."""

from __future__ import annotations

import json
import os
import socket
import sys

import asyncpg

from service.adapters.postgres.database import Database
from service.adapters.postgres.migrations import migrate
from service.clock import system_clock
from service.reports.component import rca_timers, report_policy
from service.reports.daily_run import DailySummaries, EmailPort
from service.reports.email_parts import html_part, subject, text_part
from service.reports.slack_digest import digest_blocks
from service.reports.summary_store import action_item_followups
from service.settings import Settings


async def report_daily(
    settings: Settings, url: str, *, send: bool, form: str, email: EmailPort | None = None
) -> int:
    db = Database(url, min_size=1, max_size=2)
    try:
        if send:  # the outbox and report_runs must exist; printing only reads
            async with db.connection() as conn:
                await migrate(conn)
        summaries = DailySummaries(
            db,
            report_policy(settings),
            rca_timers(settings),
            settings.public_url,
            system_clock,
            f"{socket.gethostname()}:{os.getpid()}:cli",
            email=email,
            followups=action_item_followups,
        )
        if send:
            outcome = await summaries.send_now()
            print(f"queued: {json.dumps(outcome)}")
            return 0
        try:
            async with db.connection() as conn:
                summary = await summaries.summary(conn, system_clock())
        except asyncpg.UndefinedTableError:
            print("incidentd: the database has no schema yet; run `incidentd migrate` first", file=sys.stderr)
            return 1
        if form == "html":
            sys.stdout.write(html_part(summary))
        elif form == "slack":
            text, blocks = digest_blocks(summary, settings.public_url)
            print(json.dumps({"text": text, "blocks": blocks}, indent=2, ensure_ascii=False))
        else:
            sys.stdout.write(f"Subject: {subject(summary)}\n\n{text_part(summary)}")
        return 0
    finally:
        await db.close()

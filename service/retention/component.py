"""Retention as a capability: one supervised worker (see service/retention/job.py)."""

from __future__ import annotations

import os
import socket

from service.components import Component, Context
from service.retention.job import RETENTION, STALL_AFTER, Retention
from service.supervisor import Worker


def build(context: Context) -> Component:
    runner = f"{socket.gethostname()}:{os.getpid()}"
    job = Retention(context.db, context.settings.retention, context.clock, runner)
    return Component(
        name="retention",
        workers=[Worker("retention", job.loop, stall_after=STALL_AFTER)],
        provides=[RETENTION.given(job)],
    )

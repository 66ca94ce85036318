"""Work that outlives the HTTP request, and the answers it posts to Slack's response_url.

Tasks are kept referenced until done (asyncio only holds weak references) and drained at
shutdown, so a deploy does not swallow the answer to a command someone just typed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from slack_sdk.webhook.async_client import AsyncWebhookClient

from service.slack_commands.metrics import RESPONSE_URL_FAILURES
from service.slack_commands.replies import Reply

log = structlog.get_logger(__name__)


class Followups:
    def __init__(self, *, timeout: int = 10) -> None:
        self._timeout = timeout
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack_followup_failed", task=task.get_name(), error=repr(task.exception()))

    async def deliver(self, response_url: str, reply: Reply, *, replace_original: bool = False) -> bool:
        """Post a reply to a response_url; False (logged and counted) when Slack did not take it."""
        body = {**reply.body(), "replace_original": replace_original}
        host = urlsplit(response_url).netloc  # the path is a bearer credential: never log it
        try:
            response = await AsyncWebhookClient(response_url, timeout=self._timeout).send_dict(body)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            RESPONSE_URL_FAILURES.inc()
            log.warning("slack_response_url_unreachable", host=host, error=type(exc).__name__)
            return False
        if response.status_code != 200:
            RESPONSE_URL_FAILURES.inc()
            log.warning("slack_response_url_refused", host=host, status=response.status_code)
            return False
        return True

    async def drain(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    @property
    def pending(self) -> int:
        return len(self._tasks)

"""The PagerDuty and Slack fakes on an event loop of their own, in a thread, so the service under
test does not serve them from its loop (nor they it)."""

from __future__ import annotations

import asyncio
import threading

from service.testing.fake_service import FakeService


class ThreadedFakes:
    def __init__(self, *fakes: FakeService) -> None:
        self.fakes = fakes
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        for fake in self.fakes:
            asyncio.run_coroutine_threadsafe(fake.start(), self._loop).result(timeout=30)

    def stop(self) -> None:
        for fake in self.fakes:
            asyncio.run_coroutine_threadsafe(fake.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

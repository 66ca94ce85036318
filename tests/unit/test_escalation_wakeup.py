"""A committed change wakes every concurrent escalation round, from the loop or from another thread."""

from __future__ import annotations

import asyncio
import threading

from service.escalation.worker import Wakeup


async def test_a_poke_sets_every_bound_event() -> None:
    wakeup = Wakeup()
    events = wakeup.bind(2)
    wakeup.poke()
    assert [e.is_set() for e in events] == [True, True]


async def test_a_poke_from_another_thread_reaches_the_loop() -> None:
    wakeup = Wakeup()
    events = wakeup.bind(2)
    thread = threading.Thread(target=wakeup.poke)
    thread.start()
    thread.join()
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), timeout=5)
    assert all(e.is_set() for e in events)


async def test_binding_again_replaces_the_old_events() -> None:
    wakeup = Wakeup()
    old = wakeup.bind(2)
    new = wakeup.bind(1)
    wakeup.poke()
    assert [e.is_set() for e in old] == [False, False]
    assert new[0].is_set()

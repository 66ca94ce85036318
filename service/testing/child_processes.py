"""Service processes started by tests, benchmarks and the demo never outlive whoever started them.

A test run that is interrupted (Ctrl-C, a timeout, the runner killed) used to leave
`incidentd serve` running, still holding its port and its database connections, and
for the embedded case its PostgreSQL too. Each child started with `spawn_options()`:

- leads a process group of its own, so one `killpg` reaches what it started (an
  embedded PostgreSQL is in the same group);
- is sent SIGKILL by the kernel if the process that started it dies, even by SIGKILL
  (`PR_SET_PDEATHSIG`, Linux);
- is remembered until `forget()`; `kill_all()` (run at interpreter exit, and by the
  test session's end) kills every group still alive.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1
_LIVE: set[int] = set()


def _die_with_parent() -> None:
    """Runs in the child between fork and exec; must not raise."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


def spawn_options() -> dict[str, Any]:
    """Keyword arguments for `subprocess.Popen` / `asyncio.create_subprocess_exec`."""
    return {"start_new_session": True, "preexec_fn": _die_with_parent}


def track(pid: int) -> int:
    """Remember a child started with `spawn_options()` (its pid is its process group's id)."""
    _LIVE.add(pid)
    return pid


def forget(pid: int) -> None:
    _LIVE.discard(pid)


def kill_group(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Signal the child's whole group; a group that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def kill_all() -> None:
    for pid in list(_LIVE):
        kill_group(pid)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        _LIVE.discard(pid)


atexit.register(kill_all)

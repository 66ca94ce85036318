"""A bench's server in a child process that never outlives the bench.

The child leads its own process group and is killed by the kernel if the bench dies, even by SIGKILL
(`service/testing/child_processes.py`); a bench interrupted by Ctrl-C or a timeout kills the group on
its way out, so no server is left holding its port and its scratch database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from service.testing import child_processes

ROOT = Path(__file__).resolve().parents[1]


async def start(script: str, *args: str) -> asyncio.subprocess.Process:
    """`python script *args` with the repository importable, as the benches' `--serve` side runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, script, *args, env={**os.environ, "PYTHONPATH": str(ROOT)},
        **child_processes.spawn_options(),
    )  # fmt: skip
    child_processes.track(process.pid)
    return process


async def stop(process: asyncio.subprocess.Process, grace: float = 15.0) -> None:
    """SIGTERM to the group (the server finishes what it writes on the way out), SIGKILL after `grace`."""
    try:
        if process.returncode is None:
            child_processes.kill_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=grace)
            except TimeoutError:
                child_processes.kill_group(process.pid)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), timeout=5)
    finally:
        child_processes.kill_group(process.pid)  # anything the server itself started
        child_processes.forget(process.pid)

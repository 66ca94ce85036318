"""Processes started for tests and benchmarks die with whoever started them, even when it is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from service.testing import child_processes

ROOT = Path(__file__).resolve().parents[2]
STARTER = """
import subprocess, sys, time
from service.testing import child_processes
command = [sys.executable, "-c", "import time; time.sleep(120)"]
child = subprocess.Popen(command, **child_processes.spawn_options())
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:  # a zombie has exited already
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_child_dies_when_its_starter_is_sigkilled() -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER], cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert starter.stdout is not None
        child = int(starter.stdout.readline())
        assert _alive(child)
        starter.send_signal(signal.SIGKILL)
        starter.wait(timeout=10)
        assert _gone_within(child, 10), "the child outlived the process that started it"
    finally:
        child_processes.kill_group(starter.pid)  # the test's own leftovers, should it fail
        if starter.stdout is not None:
            starter.stdout.close()


def test_kill_all_reaches_what_a_tracked_child_started_itself() -> None:
    leader = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 120 & echo $!; wait"],
        stdout=subprocess.PIPE,
        text=True,
        **child_processes.spawn_options(),
    )
    child_processes.track(leader.pid)
    assert leader.stdout is not None
    grandchild = int(leader.stdout.readline())
    child_processes.kill_all()
    leader.wait(timeout=10)
    leader.stdout.close()
    assert _gone_within(grandchild, 10), "the grandchild in the tracked group survived"

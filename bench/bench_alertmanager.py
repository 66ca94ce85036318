"""Pushed-alert ingest: incidentd beside Alertmanager 0.25, in one run and one table.

POSTs N new alerts (default 20,000) in Prometheus' batches of 64 (four in flight, as a
busy Prometheus with several rule groups would) to the Debian `prometheus-alertmanager`
(started here on loopback with a throwaway config) and to a real `incidentd serve`
process on a scratch PostgreSQL database; then the same alerts again (a re-send of known
alerts); then checks every alert is a row in PostgreSQL. Alerts group into 20 incidents
(`service` takes 20 values), as a real alert storm does. Last, the cost of judging
100,000 alerts against 10,000 active silences in process (MuteSnapshot.verdict).

Target: incidentd's ingest rate at least Alertmanager's. Skips Alertmanager's column (with a
note) when `prometheus-alertmanager` is not installed.
Usage: python bench/bench_alertmanager.py [--alerts 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import harness

from demo.processes import ServiceProcess, free_port
from service.domain.mute_verdicts import MuteSnapshot
from service.domain.silence_matchers import parse_matchers
from service.domain.silences import Silence
from service.testing.databases import create_scratch_database, drop_database

BATCH = 64
IN_FLIGHT = 4
TOKEN = "bench-push-token"  # noqa: S105 - a throwaway token for a loopback process
NAME = "alertmanager"


def alerts(count: int, ends: datetime) -> list[dict[str, Any]]:
    return [
        {
            "labels": {
                "alertname": "BenchAlert",
                "service": f"svc{i % 20}",
                "instance": f"host-{i}",
                "severity": "warning",
            },
            "annotations": {"summary": f"bench alert {i}"},
            "startsAt": datetime.now(UTC).isoformat(),
            "endsAt": ends.isoformat(),
            "generatorURL": "http://prometheus.bench/graph?g0.expr=up",
        }
        for i in range(count)
    ]


async def post_all(url: str, batch_list: list[list[dict[str, Any]]], headers: dict[str, str]) -> float:
    """Seconds to POST every batch, IN_FLIGHT at a time; any non-200 answer fails the benchmark."""
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batch_list:
        queue.put_nowait(batch)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            async with http.post(f"{url}/api/v2/alerts", json=batch, headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"{url}: HTTP {response.status}: {await response.text()}")

    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(IN_FLIGHT)))
        return time.perf_counter() - started


def _batches(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


async def wait_http(url: str, path: str, headers: dict[str, str] | None = None) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(url + path, headers=headers) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def _start_alertmanager(binary: str, config: Path, tmp: Path, port: int) -> subprocess.Popen[bytes]:
    with (tmp / "am.log").open("wb") as log:
        return subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={tmp}/data",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def bench_alertmanager(count: int) -> tuple[float, float] | None:
    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "am.yml"
        config.write_text("route: {receiver: none, group_wait: 1h}\nreceivers: [{name: none}]\n")
        port = free_port()
        process = _start_alertmanager(binary, config, Path(tmp), port)
        try:
            url = f"http://127.0.0.1:{port}"
            await wait_http(url, "/api/v2/status")
            items = alerts(count, datetime.now(UTC) + timedelta(hours=1))
            first = await post_all(url, _batches(items), {})
            again = await post_all(url, _batches(items), {})
            return first, again
        finally:
            process.terminate()
            process.wait(timeout=20)


async def bench_incidentd(count: int) -> tuple[float, float, int]:
    admin = harness.admin_database_url()
    database = await create_scratch_database(admin, prefix="incidentd_bench")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INCIDENTD_")},
        "DATABASE_URL": database,
        "INCIDENTD_PORT": str(free_port()),
        "INCIDENTD_API_TOKENS": f"bench={TOKEN}",
        "INCIDENTD_LOG_LEVEL": "warning",
    }
    service = ServiceProcess(env, harness.log_path().with_name("bench-incidentd.log"))
    service.start()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        await service.wait_ready()
        items = alerts(count, datetime.now(UTC) + timedelta(hours=1))
        first = await post_all(service.url, _batches(items), headers)
        again = await post_all(service.url, _batches(items), headers)
        conn = await asyncpg.connect(database)
        try:
            stored: int = await conn.fetchval("SELECT count(*) FROM pushed_alerts WHERE status = 'firing'")
        finally:
            await conn.close()
        return first, again, stored
    finally:
        service.stop()
        await drop_database(admin, database)


def bench_matching(silence_count: int = 10_000, alert_count: int = 100_000) -> float:
    now = datetime.now(UTC)

    def silence(text: str) -> Silence:
        return Silence(
            id=str(uuid.uuid4()),
            matchers=tuple(parse_matchers(text)),
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            created_by="bench",
            comment="",
            updated_at=now,
        )

    # Most silences name a service (indexed by it); 20 only have regexes and are checked for every alert.
    silences = tuple(silence(f'service="svc{i}", instance=~"host-{i}.*"') for i in range(silence_count))
    extra = tuple(silence(f'team=~"t{i}|x"') for i in range(20))
    snapshot = MuteSnapshot(at=now, silences=silences + extra)
    labels = [
        {"alertname": "BenchAlert", "service": f"svc{i % 20_000}", "instance": f"host-{i}", "team": "core"}
        for i in range(alert_count)
    ]
    for made in snapshot.silences:  # warm: a process compiles each regex once, whatever reloads follow
        for m in made.matchers:
            m.matches({})
    started = time.perf_counter()
    muted = sum(1 for item in labels if snapshot.verdict(item).muted)
    took = time.perf_counter() - started
    if muted == 0:
        raise RuntimeError("matching benchmark muted nothing: its silences do not match its alerts")
    return took


async def main_async(count: int) -> None:
    am = await bench_alertmanager(count)
    ours = await bench_incidentd(count)
    rows: list[tuple[object, ...]] = []
    first, again, stored = ours
    rows.append(("incidentd", count, count / first, count / again, f"{stored:,} rows firing"))
    if am is not None:
        rows.append(("Alertmanager 0.25", count, count / am[0], count / am[1], "in memory"))
    harness.print_table(
        f"Pushed alerts, batches of {BATCH}, {IN_FLIGHT} in flight",
        ("receiver", "alerts", "new alerts/s", "re-sends/s", "durable"),
        rows,
    )
    matching = bench_matching()
    harness.print_table(
        "Matching",
        ("case", "seconds", "per alert (µs)"),
        [("100,000 alerts x 10,020 active silences", matching, matching / 100_000 * 1e6)],
    )
    harness.record(
        NAME,
        "incidentd_new_alerts_per_s",
        count / first,
        "alerts/s",
        target=">= Alertmanager 0.25" if am else None,
        met=(count / first >= count / am[0]) if am else None,
    )
    harness.record(NAME, "incidentd_resends_per_s", count / again, "alerts/s")
    harness.record(NAME, "incidentd_durable_rows", stored, "rows", target=f"== {count}", met=stored == count)
    if am is not None:
        harness.record(NAME, "alertmanager_new_alerts_per_s", count / am[0], "alerts/s")
        harness.record(NAME, "alertmanager_resends_per_s", count / am[1], "alerts/s")
    harness.record(NAME, "matching_100k_alerts_10k_silences_s", matching, "s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=20_000)
    args = parser.parse_args()
    harness.quiet_logs()
    asyncio.run(main_async(args.alerts))


if __name__ == "__main__":
    main()

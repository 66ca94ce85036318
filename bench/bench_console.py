"""The web console at 10,000 incidents: page server time, page weight, and action-to-screen delay.

    python bench/bench_console.py [--seconds 20] [--rate 20] [--incidents 10000] [--changes 50]
                                  [--profile FILE]  # the server's pyinstrument profile, as text

Seeds a scratch database (see bench/harness.py) with 10,000 incidents and 100 timeline events on the
incident under test, runs the real app in its own process (uvicorn, as `incidentd serve` does),
and measures from another process:

- the list page (a mix of filters and later pages) and the incident page, requested open-loop at
  a fixed rate: client time is counted from the scheduled send over loopback (it includes waiting in
  this process and in the server's queue), server time is what the server itself spent from receiving
  the request to starting its answer (a `Server-Timing` header added by the benchmark's wrapper);
- the weight of each page with the assets it loads;
- the delay from an API call changing the incident to a second open page (subscribed to the
  server-sent events, re-reading its live regions as the page's script does) showing it.

Aims: p99 under 50 ms at 20 requests/s, pages under 150 KB with assets, change-to-screen p99 under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import harness
import served
from bench_slack import SEED_SQL, free_port, percentile, wait_for_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.adapters.postgres.database import _init_connection  # noqa: E402
from service.adapters.postgres.migrations import migrate  # noqa: E402
from service.testing.databases import create_scratch_database, drop_database  # noqa: E402
from service.web import accounts, sessions  # noqa: E402
from service.web.accounts import Role  # noqa: E402

TOKEN = "bench-console-token"  # noqa: S105 - the scratch server's own, made up here
AIM_P99_MS = 50.0
AIM_WEIGHT_KB = 150.0
AIM_CHANGE_P99_MS = 1000.0
LISTS = [
    "/",
    "/?status=open",
    "/?severity=P1",
    "/?service=svc-3",
    "/?q=incident+77",
    "/?status=resolved&severity=P2",
    "/?after=1.5000",
    "/?after=1.200",
]


async def prepare(admin_url: str, incidents: int) -> tuple[str, int, str]:
    """The scratch database, the id of a triggered incident with 100 events, and a session cookie."""
    url = await create_scratch_database(admin_url, prefix="incidentd_bench")
    conn = await asyncpg.connect(url)
    try:
        await _init_connection(conn)
        await migrate(conn)
        for statement in SEED_SQL.split(";\n"):
            if statement.strip():
                await conn.execute(statement.replace("$1", str(incidents)))
        target: int = await conn.fetchval("SELECT max(id) FROM incidents WHERE status = 'triggered'")
        await conn.execute(
            "INSERT INTO incident_events (incident_id, at, kind, actor, source, data)"
            " SELECT $1, now(), 'note', 'bench', 'api', jsonb_build_object('text', 'note **' || n || '**')"
            " FROM generate_series(1, 99) AS n",
            target,
        )
        await conn.execute("ANALYZE")
        now = datetime.now(UTC)
        await accounts.add_user(conn, "bench", "bench password 123", Role.RESPONDER, now)
        cookie = await sessions.create(conn, "bench", now)
    finally:
        await conn.close()
    return url, target, cookie


def serve(database_url: str, port: int, profile: str) -> None:
    import msgspec
    import uvicorn

    from service.app import build_app
    from service.observability import configure_logging
    from service.settings import load_settings

    env = {"INCIDENTD_PORT": str(port), "INCIDENTD_API_TOKENS": f"bench={TOKEN}"}
    settings = msgspec.structs.replace(
        load_settings(env), rules_dir=ROOT / "rules", templates_dir=ROOT / "incident_templates", workers=False
    )
    configure_logging(log_format="json", level="error")
    app = build_app(settings, database_url)  # every default component, as `incidentd serve` (workers off)
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="enabled")
        profiler.start()
    # uvicorn re-raises the SIGTERM it stopped on; as KeyboardInterrupt it reaches the `finally`.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        uvicorn.run(
            ServerTiming(app), host="127.0.0.1", port=port, log_level="error", access_log=False, lifespan="on"
        )
    except KeyboardInterrupt:
        pass
    finally:
        if profiler is not None:
            profiler.stop()
            Path(profile).write_text(profiler.output_text(unicode=False, color=False), encoding="utf-8")


class ServerTiming:
    """Adds `Server-Timing: app;dur=<ms>`: the time from the request reaching the app to its answer
    starting (the console renders the whole page before it starts answering)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                spent = (time.perf_counter() - started) * 1000
                message = {
                    **message,
                    "headers": [*message["headers"], (b"server-timing", f"app;dur={spent:.2f}".encode())],
                }
            await send(message)

        await self.app(scope, receive, timed_send)


def server_ms(response: aiohttp.ClientResponse) -> float | None:
    found = re.search(r"dur=([0-9.]+)", response.headers.get("server-timing", ""))
    return float(found.group(1)) if found else None


async def timed_get(
    session: aiohttp.ClientSession, url: str, scheduled: float, out: list[float], server: list[float]
) -> bool:
    await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
    async with session.get(url) as response:
        await response.read()
        ok = response.status == 200
        if not ok:
            print(f"GET {url}: HTTP {response.status}", file=sys.stderr)
        spent = server_ms(response)
    out.append((time.perf_counter() - scheduled) * 1000)
    if spent is not None:
        server.append(spent)
    return ok


async def page_load(
    session: aiohttp.ClientSession, base: str, seconds: float, rate: float, target: int
) -> dict[str, list[float]]:
    rng = random.Random(11)
    results: dict[str, list[float]] = {"list": [], "incident": [], "list_server": [], "incident_server": []}
    for path in [*LISTS, f"/incidents/{target}"]:  # warm up; not counted
        await timed_get(session, base + path, time.perf_counter(), [], [])
    start = time.perf_counter() + 0.1
    tasks = []
    for index in range(int(seconds * rate)):
        kind = "incident" if index % 2 else "list"
        path = f"/incidents/{target}" if kind == "incident" else rng.choice(LISTS)
        tasks.append(
            asyncio.create_task(
                timed_get(
                    session, base + path, start + index / rate, results[kind], results[f"{kind}_server"]
                )
            )
        )
    failures = [ok for ok in await asyncio.gather(*tasks) if not ok]
    if failures:
        raise RuntimeError(f"{len(failures)} page requests failed")
    return results


async def weight(session: aiohttp.ClientSession, base: str, path: str) -> float:
    async with session.get(base + path) as response:
        body = await response.read()
    total = len(body)
    for asset in set(re.findall(rb'(?:src|href)="(/static/[^"]+)"', body)):
        async with session.get(base + asset.decode()) as response:
            total += len(await response.read())
    return total / 1024


async def next_event(stream: aiohttp.ClientResponse) -> bytes:
    """One server-sent event (or comment): lines up to a blank one, whatever the line ending."""
    lines: list[bytes] = []
    while True:
        line = await stream.content.readline()
        if not line:
            raise ConnectionError("the event stream ended")
        if not line.strip():
            if lines:
                return b"".join(lines)
            continue
        lines.append(line)


async def change_delays(session: aiohttp.ClientSession, base: str, target: int, changes: int) -> list[float]:
    """API note → the open page's stream says changed → its live regions show the note."""
    delays: list[float] = []
    api = {"Authorization": f"Bearer {TOKEN}"}
    async with session.get(
        f"{base}/incidents/{target}/stream", timeout=aiohttp.ClientTimeout(total=None)
    ) as stream:
        await asyncio.wait_for(next_event(stream), timeout=5)  # hello
        for n in range(changes):
            text = f"bench change {n}"
            started = time.perf_counter()
            async with session.post(
                f"{base}/api/v1/incidents/{target}/notes", json={"text": text}, headers=api
            ) as r:
                assert r.status == 201
            while True:
                chunk = await asyncio.wait_for(next_event(stream), timeout=5)
                if b"event: changed" in chunk:
                    break
            async with session.get(f"{base}/incidents/{target}/live") as live:
                assert text in await live.text()
            delays.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.05)
    return delays


def line(name: str, values: list[float]) -> str:
    return (
        f"{name:<22} {len(values):>6} {percentile(values, 0.5):>8.1f} {percentile(values, 0.99):>8.1f}"
        f" {max(values):>8.1f}"
    )


async def run(args: argparse.Namespace) -> bool:
    admin_url = harness.admin_database_url()
    harness.quiet_logs()
    print(f"seeding {args.incidents:,} incidents ...", flush=True)
    url, target, cookie = await prepare(admin_url, args.incidents)
    port = free_port()
    process = await served.start(
        __file__, "--serve", "--port", str(port), "--database-url", url, "--profile", args.profile
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_for_server(base, process)
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=10)) as session:
            jar.update_cookies({sessions.COOKIE: cookie})
            pages = await page_load(session, base, args.seconds, args.rate, target)
            list_kb = await weight(session, base, "/")
            incident_kb = await weight(session, base, f"/incidents/{target}")
            delays = await change_delays(session, base, target, args.changes)
    finally:
        await served.stop(process)
        await drop_database(admin_url, url)
    print(f"\nWeb console: {args.rate:g} req/s for {args.seconds:g} s, {args.incidents:,} incidents\n")
    print(f"{'what':<22} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(line("list page (client)", pages["list"]))
    print(line("list page (server)", pages["list_server"]))
    print(line("incident (client)", pages["incident"]))
    print(line("incident (server)", pages["incident_server"]))
    print(line("change -> second page", delays))
    print(f"\npage weight with assets: list {list_kb:.1f} KB, incident {incident_kb:.1f} KB")
    # The aim is each page's server time.
    p99 = max(percentile(pages["list_server"], 0.99), percentile(pages["incident_server"], 0.99))
    met = p99 < AIM_P99_MS and max(list_kb, incident_kb) < AIM_WEIGHT_KB
    met = met and percentile(delays, 0.99) < AIM_CHANGE_P99_MS
    print(
        f"aims: server p99 < {AIM_P99_MS:g} ms, < {AIM_WEIGHT_KB:g} KB,"
        f" change p99 < {AIM_CHANGE_P99_MS:g} ms: {harness.verdict(met)}"
    )
    for key, values in (
        ("list_p99", pages["list"]),
        ("incident_p99", pages["incident"]),
        ("list_server_p99", pages["list_server"]),
        ("incident_server_p99", pages["incident_server"]),
    ):
        value = percentile(values, 0.99)
        harness.record("console", key, value, "ms", target=f"< {AIM_P99_MS:g}", met=value < AIM_P99_MS)
    heaviest = max(list_kb, incident_kb)
    harness.record(
        "console", "page_weight", heaviest, "KB", target=f"< {AIM_WEIGHT_KB:g}", met=heaviest < AIM_WEIGHT_KB
    )
    change = percentile(delays, 0.99)
    harness.record(
        "console",
        "change_p99",
        change,
        "ms",
        target=f"< {AIM_CHANGE_P99_MS:g}",
        met=change < AIM_CHANGE_P99_MS,
    )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--profile", default="", help="write the server's pyinstrument profile to this file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.database_url, args.port, args.profile)
        return
    sys.exit(0 if asyncio.run(run(args)) else 1)


if __name__ == "__main__":
    main()

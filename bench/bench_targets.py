"""Does the collector keep up with 200 node-exporter-sized targets scraped every 15 s?

A child process serves 200 targets on 200 local ports, each a node-exporter-like
exposition (~1,600 series: CPU seconds per core and mode, filesystems, network
counters, a latency histogram) whose counters advance between scrapes. This
process runs the real Collector with one `targets:` source and four rules
(a gauge, a rate by instance, a ratio, a p95) and scrapes every 15 s. Per round
it prints the wall time of the whole round, this process's CPU time for it,
and how much of the 15 s interval that is. The targets' own CPU is not counted
(they are in the other process), but both share this machine's cores.

Usage: python bench/bench_targets.py [--targets 200] [--rounds 4] [--interval 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CPUS, MODES = 8, ("idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice")
BOUNDS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


def exposition(index: int, tick: int) -> str:
    lines = ["# TYPE node_load1 gauge", f"node_load1 {1 + index % 7}"]
    lines.append("# TYPE node_cpu_seconds_total counter")
    for cpu in range(CPUS):
        for n, mode in enumerate(MODES):
            lines.append(
                f'node_cpu_seconds_total{{cpu="{cpu}",mode="{mode}"}} {tick * (15 if n == 0 else 1)}'
            )
    lines.append("# TYPE node_network_receive_bytes_total counter")
    for dev in range(200):
        for name in (
            "receive_bytes",
            "transmit_bytes",
            "receive_packets",
            "transmit_packets",
            "receive_errs",
        ):
            lines.append(f'node_network_{name}_total{{device="veth{dev}"}} {tick * (dev + 1)}')
    lines.append("# TYPE node_filesystem_avail_bytes gauge")
    for fs in range(300):
        for name in ("avail", "size", "free"):
            lines.append(
                f'node_filesystem_{name}_bytes{{device="/dev/sd{fs}",mountpoint="/m{fs}"}} {1e9 + fs}'
            )
    lines.append("# TYPE http_requests_total counter")
    for code in ("200", "404", "500"):
        lines.append(f'http_requests_total{{code="{code}"}} {tick * (100 if code == "200" else 2)}')
    lines.append("# TYPE http_request_duration_seconds histogram")
    for path in range(20):
        for i, bound in enumerate(BOUNDS):
            count = tick * (i + 1) * 10
            lines.append(f'http_request_duration_seconds_bucket{{path="/p{path}",le="{bound}"}} {count}')
        lines.append(f'http_request_duration_seconds_count{{path="/p{path}"}} {tick * len(BOUNDS) * 10}')
        lines.append(f'http_request_duration_seconds_sum{{path="/p{path}"}} {tick}')
    return "\n".join(lines) + "\n"


def serve(count: int) -> None:
    """The child process: 200 little exporters; prints their ports, then serves until killed."""
    from aiohttp import web

    started = time.monotonic()

    async def main() -> None:
        ports = []
        for index in range(count):

            async def metrics(_: web.Request, index: int = index) -> web.Response:
                tick = int((time.monotonic() - started) * 10)
                return web.Response(text=exposition(index, tick), content_type="text/plain")

            app = web.Application()
            app.router.add_get("/metrics", metrics)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            server = site._server
            assert server is not None
            assert isinstance(server, asyncio.Server)
            ports.append(server.sockets[0].getsockname()[1])
        print(" ".join(map(str, ports)), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


RULES = """\
groups:
  - name: hosts
    interval: {interval}s
    labels: {{service: hosts}}
    rules:
      - {{alert: Load, signal: {{source: node, gauge: node_load1}}, when: above, warning: 100, severity: P3}}
      - alert: CpuBusy
        signal: {{source: node, rate: 'node_cpu_seconds_total{{mode="user"}}', by: [instance], window: 1m}}
        when: above
        warning: 90%
        severity: P3
      - alert: Errors
        signal:
          source: node
          ratio: {{numerator: 'http_requests_total{{code="500"}}', denominator: http_requests_total}}
          window: 1m
        when: above
        warning: 50%
        severity: P3
      - alert: Slow
        signal: {{source: node, histogram: http_request_duration_seconds, quantile: p95, window: 1m}}
        when: above
        warning: 30s
        severity: P3
"""


async def run(ports: list[int], rounds: int, interval: float) -> None:
    from service.config.rule_files import load_rules
    from service.sources.collector import Collector

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        targets = ", ".join(f'"127.0.0.1:{p}"' for p in ports)
        source = f"{{name: node, targets: [{targets}], interval: {interval:g}s, timeout: 10s}}"
        sources = f"sources:\n  scrape:\n    - {source}\n"
        path.write_text(sources + textwrap.dedent(RULES.format(interval=int(interval))))
        rules, problems = load_rules([path])
        assert not problems, problems
    collector = Collector(rules.sources, env={}, self_database_url=None)
    rule_list = list(rules.rules())
    print(f"{'round':>5} {'targets up':>10} {'rows':>6} {'wall s':>7} {'CPU s':>6} {'CPU % of interval':>18}")
    walls, cpus = [], []
    try:
        for number in range(rounds):
            due = time.monotonic()
            cpu, wall = time.process_time(), time.perf_counter()
            collection = await collector.collect(rule_list, datetime.now(UTC))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            up = sum(1 for s in collection.statuses if s.ok)
            rows = sum(len(v or []) for v in collection.values.values())
            walls.append(wall)
            cpus.append(cpu)
            print(f"{number + 1:>5} {up:>6}/{len(collection.statuses):<3} {rows:>6} {wall:>7.2f} {cpu:>6.2f} "
                  f"{100 * cpu / interval:>17.1f}%", flush=True)  # fmt: skip
            await asyncio.sleep(max(0.0, due + interval - time.monotonic()))
    finally:
        await collector.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    steady = walls[1:] or walls
    print(
        f"\nmean wall {sum(steady) / len(steady):.2f} s, worst {max(walls):.2f} s "
        f"per round of {len(ports)} targets "
        f"(interval {interval:g} s); mean CPU {sum(cpus) / len(cpus):.2f} s per round; "
        f"peak RSS {peak:.0f} MiB; keeps up: {'yes' if max(walls) < interval else 'NO'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.targets)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        assert child.stdout is not None
        ports = [int(p) for p in child.stdout.readline().split()]
        body = exposition(0, 1)
        print(f"{len(ports)} targets, {body.count(chr(10))} lines ({len(body) // 1024} KiB) each, every "
              f"{args.interval:g} s, {args.rounds} rounds")  # fmt: skip
        asyncio.run(run(ports, args.rounds, args.interval))
    finally:
        child.terminate()
        child.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

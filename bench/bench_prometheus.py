"""Prometheus itself on the evaluation benchmark's workload, for the figure beside ours.

Serves 200,000 gauge series (10 % above 95) on a local target, starts the Debian
`prometheus` binary (2.42 on these machines) scraping it with one alerting rule
`bench_metric > 95`, waits for a few evaluations, and reads from its own /metrics:
`scrape_duration_seconds`, `prometheus_rule_group_last_duration_seconds` and
`process_resident_memory_bytes`. Compare with bench_evaluation.py's big-rule row.

Skips (exit 0, with a note) when no `prometheus` binary is installed:
`apt-get install prometheus` to get it. Usage: python bench/bench_prometheus.py [--seconds 75]
"""

from __future__ import annotations

import argparse
import http.server
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

SERIES = 200_000


def _exposition() -> bytes:
    lines = ["# TYPE bench_metric gauge"]
    for i in range(SERIES):
        value = 99.0 if i % 10 == 0 else 10.0 + i % 50
        lines.append(f'bench_metric{{instance="host-{i % 5000}",shard="{i // 5000}"}} {value}')
    return ("\n".join(lines) + "\n").encode()


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _metric(text: str, name: str, label: str = "") -> float | None:
    pattern = rf"^{re.escape(name)}(\{{[^}}]*{re.escape(label)}[^}}]*\}})? ([0-9.eE+-]+)$"
    found = re.findall(pattern, text, flags=re.MULTILINE)
    return float(found[-1][1]) if found else None


class _Target(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: object) -> None:
        return


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local URL we built
        text: str = response.read().decode()
        return text


def _run(binary: str, seconds: float) -> None:
    _Target.body = _exposition()
    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    target_port, prom_port = target.server_address[1], _port()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "rules.yml").write_text(
            "groups:\n- name: bench\n  interval: 15s\n  rules:\n"
            "  - alert: BenchHigh\n    expr: bench_metric > 95\n    for: 1m\n"
        )
        Path(tmp, "prometheus.yml").write_text(
            "global: {scrape_interval: 15s, scrape_timeout: 14s, evaluation_interval: 15s}\n"
            "rule_files: [rules.yml]\nscrape_configs:\n"
            f"- job_name: bench\n  static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
            f"- job_name: self\n  static_configs: [{{targets: ['127.0.0.1:{prom_port}']}}]\n"
        )
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp}/prometheus.yml",
                f"--storage.tsdb.path={tmp}/data",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            started = time.monotonic()
            peak_rss = 0.0
            text = ""
            while time.monotonic() - started < seconds:
                time.sleep(5)
                try:
                    text = _get(f"http://127.0.0.1:{prom_port}/metrics")
                except OSError:
                    continue
                peak_rss = max(peak_rss, _metric(text, "process_resident_memory_bytes") or 0.0)
            rule = _metric(text, "prometheus_rule_group_last_duration_seconds", 'rule_group="')
            query = urllib.parse.quote('scrape_duration_seconds{job="bench"}')
            answer = _get(f"http://127.0.0.1:{prom_port}/api/v1/query?query={query}")
            scraped = re.findall(r'"value":\[[0-9.]+,"([0-9.eE+-]+)"\]', answer)
        finally:
            process.terminate()
            process.wait(timeout=30)
            target.shutdown()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    print(f"Prometheus on the same workload ({version.splitlines()[0] if version else binary})")
    print(f"{'series':>8} {'scrape s':>9} {'rule eval s':>12} {'peak RSS MB':>12}")
    print(
        f"{SERIES:>8} {float(scraped[0]) if scraped else float('nan'):>9.3f} "
        f"{rule if rule is not None else float('nan'):>12.3f} {peak_rss / 2**20:>12.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=75.0)
    args = parser.parse_args()
    binary = shutil.which("prometheus")
    if binary is None:
        print("bench_prometheus: no `prometheus` binary (apt-get install prometheus); skipped")
        return
    _run(binary, args.seconds)


if __name__ == "__main__":
    main()

"""Prometheus itself on the big-rule workload, run by bench_evaluation.py for the row beside ours.

A local target serves the same 200,000 gauge series as our big-rule scenario, a different 10 %
breaching at every scrape (the same churn); the Debian `prometheus` binary (2.42) scrapes it and
evaluates the same rule (`> 95`, the same `for`) at the same interval. Its rule-group duration is
read from its own /metrics (`prometheus_rule_group_last_duration_seconds`) after every evaluation,
and its memory from `process_resident_memory_bytes`.
"""

from __future__ import annotations

import http.server
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PrometheusFigures:
    version: str
    durations: list[float]
    peak_rss_mb: float

    @property
    def median_s(self) -> float:
        return statistics.median(self.durations) if self.durations else float("nan")


def binary() -> str | None:
    return shutil.which("prometheus")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def metric(text: str, name: str, label: str = "") -> float | None:
    pattern = rf"^{re.escape(name)}(\{{[^}}]*{re.escape(label)}[^}}]*\}})? ([0-9.eE+-]+)$"
    found = re.findall(pattern, text, flags=re.MULTILINE)
    return float(found[-1][1]) if found else None


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local URL we built
        text: str = response.read().decode()
        return text


def _target(bodies: list[bytes]) -> http.server.ThreadingHTTPServer:
    served = [0]

    class Target(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies[served[0] % len(bodies)]
            served[0] += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def exposition(metric_name: str, rows: list[tuple[dict[str, str], float]]) -> bytes:
    lines = [f"# TYPE {metric_name} gauge"]
    for labels, value in rows:
        inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
        lines.append(f"{metric_name}{{{inner}}} {value}")
    return ("\n".join(lines) + "\n").encode()


def run(
    path: str,
    metric_name: str,
    variants: Callable[[int], list[tuple[dict[str, str], float]]],
    *,
    threshold: float,
    for_: str,
    interval_s: int,
    evaluations: int,
) -> PrometheusFigures:
    """Scrape and evaluate every `interval_s` until `evaluations` rule-group durations are read."""
    bodies = [exposition(metric_name, variants(k)) for k in range(10)]
    target = _target(bodies)
    target_port, port = target.server_address[1], _port()
    durations: list[float] = []
    peak = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "rules.yml").write_text(
            f"groups:\n- name: bench\n  interval: {interval_s}s\n  rules:\n"
            f"  - alert: BenchRule0\n    expr: {metric_name} > {threshold}\n    for: {for_}\n"
        )
        Path(tmp, "prometheus.yml").write_text(
            f"global: {{scrape_interval: {interval_s}s, scrape_timeout: {interval_s - 1}s,"
            f" evaluation_interval: {interval_s}s}}\n"
            "rule_files: [rules.yml]\nscrape_configs:\n"
            f"- job_name: bench\n  static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        )
        process = subprocess.Popen(
            [
                path,
                f"--config.file={tmp}/prometheus.yml",
                f"--storage.tsdb.path={tmp}/data",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            last_seen: float | None = None
            deadline = time.monotonic() + interval_s * (evaluations + 6) + 30
            while len(durations) < evaluations and time.monotonic() < deadline:
                time.sleep(0.5)
                try:
                    text = _get(f"http://127.0.0.1:{port}/metrics")
                except OSError:
                    continue
                peak = max(peak, metric(text, "process_resident_memory_bytes") or 0.0)
                when = metric(text, "prometheus_rule_group_last_evaluation_timestamp_seconds", "rule_group")
                took = metric(text, "prometheus_rule_group_last_duration_seconds", "rule_group")
                samples = metric(text, "prometheus_rule_group_last_evaluation_samples", "rule_group")
                if when and took is not None and when != last_seen and (samples or 0) > 0:
                    last_seen = when
                    durations.append(took)
        finally:
            process.terminate()
            process.wait(timeout=30)
            target.shutdown()
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"version (\S+)", out.stdout or out.stderr)
    return PrometheusFigures(f"prometheus {found.group(1) if found else '?'}", durations, peak / 2**20)

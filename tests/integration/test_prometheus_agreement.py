"""Side by side with the real Prometheus 2.x on the same targets: rate, ratio, p95 and `for` agree.

Prometheus and incidentd both scrape a tick target (every value a function of the
current second, so both see the same numbers per tick) and the simulated app,
once a second. For every tick where both have a value, incidentd's derivation is
compared with Prometheus' answer to the equivalent PromQL at the time of *its*
scrape of that tick, so both windows hold the same samples at the same relative
positions: they must agree within 1 % through the steady phase, a step change, a
series appearing mid-run, missed scrapes and a counter reset. Then `for: 2s` and
`for: 4s` must go pending -> firing after the same number of evaluations, and
fire within a second of Prometheus.

Prometheus evaluates on a grid offset by a hash, so incidentd's evaluation phase
is set (through its clock) just after Prometheus', as an HA pair would run; the
tick boundary is then placed away from every scrape.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import require_tool

from service.adapters.postgres.database import Database
from service.alerting.evaluator import Evaluator
from service.alerting.rulebook import RuleBook
from service.domain.rules import Rule
from service.incidents.service import IncidentService
from service.sources.collector import Collection, Collector
from service.testing import simulated_app
from service.testing.tick_target import Script, TickTarget, serving

WINDOW = "10500ms"  # not a multiple of the 1 s interval: no sample sits on the window's edge
FIRST_COMPARED = 12  # ticks before this still have warm-up samples in the window
TOLERANCE = 0.01

EXPRESSIONS = {
    "TickRate": f"sum(rate(tick_requests_total[{WINDOW}]))",
    "TickRatio": (
        f'sum(rate(tick_requests_total{{status=~"5.."}}[{WINDOW}]))'
        f" / sum(rate(tick_requests_total[{WINDOW}]))"
    ),
    "TickP95": f"histogram_quantile(0.95, sum by (le) (rate(tick_latency_seconds_bucket[{WINDOW}])))",
    "SimRate": f"sum(rate(app_http_requests_total[{WINDOW}]))",
    "SimRatio": (
        f'sum(rate(app_http_requests_total{{status="5xx"}}[{WINDOW}]))'
        f" / sum(rate(app_http_requests_total[{WINDOW}]))"
    ),
    "SimP95": (
        f"histogram_quantile(0.95, sum by (le) (rate(app_http_request_duration_seconds_bucket[{WINDOW}])))"
    ),
}

PROMETHEUS_RULES = """
groups:
  - name: side-by-side
    interval: 1s
    rules:
      - {alert: Breach2, expr: breach_gauge > 0.5, for: 2s}
      - {alert: Breach4, expr: breach_gauge > 0.5, for: 4s}
"""


def incidentd_rules(tick_port: int, sim_port: int) -> str:
    def never(threshold: str) -> str:
        return f"when: above\n        critical: {threshold}\n        severity: {{critical: P3}}"

    return f"""
sources:
  scrape:
    - {{name: tick, url: "http://127.0.0.1:{tick_port}/metrics", interval: 1s, timeout: 900ms}}
    - {{name: sim, url: "http://127.0.0.1:{sim_port}/metrics", interval: 1s, timeout: 900ms}}
groups:
  - name: side-by-side
    interval: 1s
    labels: {{service: side}}
    rules:
      - alert: TickRate
        signal: {{source: tick, rate: tick_requests_total, window: {WINDOW}}}
        {never("1000000")}
      - alert: TickRatio
        signal:
          source: tick
          ratio: {{numerator: 'tick_requests_total{{status=~"5.."}}', denominator: tick_requests_total}}
          window: {WINDOW}
        {never("200%")}
      - alert: TickP95
        signal: {{source: tick, histogram: tick_latency_seconds, quantile: p95, window: {WINDOW}}}
        {never("100s")}
      - alert: SimRate
        signal: {{source: sim, rate: app_http_requests_total, window: {WINDOW}}}
        {never("1000000")}
      - alert: SimRatio
        signal:
          source: sim
          ratio:
            {{numerator: 'app_http_requests_total{{status="5xx"}}', denominator: app_http_requests_total}}
          window: {WINDOW}
        {never("200%")}
      - alert: SimP95
        signal:
          {{source: sim, histogram: app_http_request_duration_seconds, quantile: p95, window: {WINDOW}}}
        {never("100s")}
      - alert: Breach2
        signal: {{source: tick, gauge: breach_gauge, unit: count}}
        when: above
        critical: 0.5
        for: 2s
        severity: {{critical: P3}}
      - alert: Breach4
        signal: {{source: tick, gauge: breach_gauge, unit: count}}
        when: above
        critical: 0.5
        for: 4s
        severity: {{critical: P3}}
"""


class ShiftedClock:
    """Real time moved back by `offset` seconds: incidentd's slots then start at that phase of each second."""

    def __init__(self, offset: float) -> None:
        self.offset = timedelta(seconds=offset)

    def __call__(self) -> datetime:
        return datetime.now(UTC) - self.offset


class Recording:
    """The real collector, with what each evaluation read kept for the comparison."""

    def __init__(self, inner: Collector) -> None:
        self.inner = inner
        self.seen: list[tuple[datetime, Collection]] = []

    async def collect(self, rules: Sequence[Rule], now: datetime) -> Collection:
        collection = await self.inner.collect(rules, now)
        self.seen.append((now, collection))
        return collection

    async def close(self) -> None:
        await self.inner.close()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback URLs we built
        return json.loads(response.read())


def _query(port: int, expr: str, at: float) -> dict[str, Any]:
    params = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    answer: dict[str, Any] = _get(f"http://127.0.0.1:{port}/api/v1/query?{params}")["data"]
    return answer


def _scalar(port: int, expr: str, at: float) -> float | None:
    result = _query(port, expr, at)["result"]
    return float(result[0]["value"][1]) if result else None


def _sample_times(port: int, selector: str, at: float) -> list[float]:
    result = _query(port, f"{selector}[3m]", at)["result"]
    return [float(t) for t, _ in result[0]["values"]] if result else []


def _rfc3339(text: str) -> float:
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", text).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed).timestamp()


def _last_evaluation(port: int) -> float | None:
    group = _get(f"http://127.0.0.1:{port}/api/v1/rules")["data"]["groups"][0]
    text = str(group["lastEvaluation"])
    return None if text.startswith("0001") else _rfc3339(text)


def _phase(at: float) -> float:
    return at % 1.0


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def choose_phases(scrape: float, evaluation: float) -> tuple[float, float]:
    """(incidentd's evaluation phase, the tick boundary's phase) from Prometheus' scrape and evaluation
    phases: the boundary 0.15 s before Prometheus scrapes, and incidentd evaluating (and scraping) where
    it sees a new tick at the evaluation closest to the one where Prometheus first sees it."""
    boundary = (scrape - 0.15) % 1.0
    wait = (evaluation - scrape) % 1.0  # from Prometheus' scrape to the evaluation that reads it
    if 0.05 <= wait <= 0.6:
        ours = evaluation + 0.1
    elif wait > 0.6:
        ours = evaluation - 0.5
    else:
        ours = scrape + 0.5
    return ours % 1.0, boundary


def _start_prometheus(
    binary: str, tmp: Path, tick_port: int, sim_port: int
) -> tuple[subprocess.Popen[bytes], int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp / "rules.yml").write_text(PROMETHEUS_RULES)
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}\n"
        "rule_files: [rules.yml]\nscrape_configs:\n"
        f"- job_name: tick\n  static_configs: [{{targets: ['127.0.0.1:{tick_port}']}}]\n"
        f"- job_name: sim\n  static_configs: [{{targets: ['127.0.0.1:{sim_port}']}}]\n"
    )
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp}/prometheus.yml",
            f"--storage.tsdb.path={tmp}/data",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


def _alert_times(port: int, name: str, at: float) -> dict[str, float]:
    """First pending and first firing evaluation of a Prometheus alert, from its ALERTS series."""
    times: dict[str, float] = {}
    for series in _query(port, f'ALERTS{{alertname="{name}"}}[3m]', at)["result"]:
        times[series["metric"]["alertstate"]] = float(series["values"][0][0])
    return times


async def test_incidentd_agrees_with_prometheus_step_by_step(db: Database, tmp_path: Path) -> None:
    binary = require_tool("prometheus", "prometheus")
    tmp = tmp_path / "prometheus"
    tmp.mkdir()
    script = Script()
    sim = web.AppRunner(simulated_app.make_app())
    await sim.setup()
    site = web.TCPSite(sim, "127.0.0.1", 0)
    await site.start()
    sim_port = sim.addresses[0][1]
    with serving(TickTarget(script=script)) as target:
        process, port = _start_prometheus(binary, tmp, target.port, sim_port)
        try:
            await asyncio.to_thread(
                _wait,
                lambda: len(target.calls.get("Prometheus", [])) >= 4 and _last_evaluation(port) is not None,
                30,
                "Prometheus to scrape and evaluate",
            )
            scrape = sorted(_phase(t) for t in target.calls["Prometheus"][-3:])[1]
            evaluated = _last_evaluation(port)
            assert evaluated is not None
            ours, boundary = choose_phases(scrape, _phase(evaluated))

            rules_dir = tmp_path / "rules"
            rules_dir.mkdir()
            (rules_dir / "side.yaml").write_text(incidentd_rules(target.port, sim_port))
            clock = ShiftedClock(ours)
            book = RuleBook(rules_dir, clock)
            assert book.reload().accepted, book.last_problems
            source = Recording(Collector(book.current.sources, env={}, self_database_url=None))
            evaluator = Evaluator(
                db=db, incidents=IncidentService(db, clock=clock), rulebook=book, source=source, clock=clock
            )
            stop = asyncio.Event()
            running = asyncio.create_task(evaluator.run(stop))
            now = time.time()
            target.origin = math.ceil(now + 1.5 - boundary) + boundary
            await asyncio.sleep(target.origin + script.end + 1 - time.time())
            stop.set()
            await running
            await source.close()
            end = time.time()
            await asyncio.to_thread(_compare_values, port, target, source, clock, end)
            await _compare_for(port, db, clock, end)
        finally:
            process.terminate()
            process.wait(timeout=30)
            await sim.cleanup()


def _our_ticks(target: TickTarget, source: Recording, clock: ShiftedClock) -> dict[int, Mapping[str, Any]]:
    """incidentd's derived values by the tick its scrape of the tick target read."""
    calls = sorted(target.calls.get("incidentd-rules", []))
    by_tick: dict[int, Mapping[str, Any]] = {}
    for now, collection in source.seen:
        real = now.timestamp() + clock.offset.total_seconds()
        scraped = next((t for t in calls if t >= real - 0.001), None)
        if scraped is not None and scraped - real < 0.5:
            by_tick[target.tick(scraped)] = collection.values
    return by_tick


def _compare_values(
    port: int, target: TickTarget, source: Recording, clock: ShiftedClock, end: float
) -> None:
    ours = _our_ticks(target, source, clock)
    prometheus_ticks = {
        target.tick(t): t for t in _sample_times(port, 'tick_requests_total{status="200"}', end)
    }
    sim_times = _sample_times(port, 'app_http_requests_total{status="2xx"}', end)
    compared: dict[str, int] = {}
    phases = {"steady": 0, "step change": 0, "new series": 0, "after missed scrapes": 0, "counter reset": 0}
    mismatches: list[str] = []
    script = target.script
    for k in range(FIRST_COMPARED, script.end + 1):
        values = ours.get(k)
        at = prometheus_ticks.get(k)
        if values is None or at is None or values.get("TickRate") is None:
            continue  # a missed scrape: neither has that tick (incidentd holds its states meanwhile)
        phase = (
            "counter reset" if k >= script.reset_at else
            "after missed scrapes" if k > script.missed[-1] else
            "new series" if k >= script.new_series_at else
            "step change" if k >= script.step_at else "steady"
        )  # fmt: skip
        phases[phase] += 1
        real = next(t for t in sorted(target.calls["incidentd-rules"]) if target.tick(t) == k)
        sim_at = max((t for t in sim_times if t <= real + 0.001), default=None)
        for rule, expr in EXPRESSIONS.items():
            when = at if rule.startswith("Tick") else sim_at
            if when is None:
                continue
            rows = values.get(rule) or []
            mine = rows[0][1] if rows else None
            theirs = _scalar(port, expr, when)
            compared[rule] = compared.get(rule, 0) + 1
            if mine is None or theirs is None or not math.isclose(mine, theirs, rel_tol=TOLERANCE):
                mismatches.append(f"tick {k} ({phase}) {rule}: incidentd {mine}, Prometheus {theirs}")
    assert not mismatches, "\n".join(mismatches)
    assert all(count >= 3 for count in phases.values()), phases  # every edge was actually compared
    assert all(compared.get(rule, 0) >= 30 for rule in EXPRESSIONS), compared


async def _compare_for(port: int, db: Database, clock: ShiftedClock, end: float) -> None:
    offset = clock.offset.total_seconds()
    for name, evaluations in (("Breach2", 2), ("Breach4", 4)):
        theirs = _alert_times(port, name, end)
        assert {"pending", "firing"} <= set(theirs), theirs
        assert theirs["firing"] - theirs["pending"] == pytest.approx(evaluations, abs=0.05)
        row = await db.fetchrow("SELECT breach_since, firing_since FROM alert_states WHERE rule = $1", name)
        assert row is not None, name
        assert row["firing_since"] is not None, name
        pending = row["breach_since"].timestamp()
        firing = row["firing_since"].timestamp()
        assert math.floor(firing) - math.floor(pending) == evaluations  # slots of our (shifted) clock
        assert abs(firing + offset - theirs["firing"]) < 1.0, (name, firing + offset, theirs)

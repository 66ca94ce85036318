"""The collector against real endpoints: aiohttp servers on 127.0.0.1, a fake Prometheus API, PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import textwrap
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning
from prometheus_client import generate_latest

from service.domain.rules import Rule, RuleSet
from service.sources.collector import Collection, Collector, SourceStatus
from service.testing import simulated_app
from service.testing.simulated_app import State, make_app

ROOT = Path(__file__).resolve().parents[2]
BIG_SERIES = 50_000
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

OPENMETRICS = """\
# TYPE jobs counter
jobs_total{queue="mail"} 12 # {trace_id="abc"} 1.0
jobs_created{queue="mail"} 1700000000
# TYPE depth gauge
depth{queue="mail"} 7
# EOF
"""


@dataclass
class Endpoints:
    base: str
    plain_body: list[str] = field(default_factory=lambda: ["counter_total 0\n"])
    hits: dict[str, int] = field(default_factory=dict)
    queries: list[dict[str, str]] = field(default_factory=list)
    sim_state: State = field(default_factory=State)
    sim_app: web.Application | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _vector(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    result = [{"metric": labels, "value": [1772366400.0, value]} for labels, value in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


PROMETHEUS_ANSWERS: dict[str, tuple[int, dict[str, Any] | str]] = {
    'up{job="app"}': (
        200,
        _vector(({"__name__": "up", "instance": "a:9100"}, "1"), ({"instance": "b"}, "0")),
    ),
    "scalar(sum(up))": (
        200,
        {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "42.5"]}},
    ),
    "up[5m]": (200, {"status": "success", "data": {"resultType": "matrix", "result": []}}),
    "refused_by_the_server": (  # valid PromQL (rules check passes it) that the server still refuses
        400,
        {"status": "error", "errorType": "bad_data", "error": "query processing would load too many samples"},
    ),
    "nan_value": (200, _vector(({}, "NaN"))),
}


@pytest.fixture
async def endpoints() -> AsyncIterator[Endpoints]:
    state = State(error_rate=0.05, p95_seconds=0.4, queue_depth=60)
    with warnings.catch_warnings():
        # simulated_app keys its app state with plain strings, which aiohttp now warns about.
        warnings.simplefilter("ignore", NotAppKeyWarning)
        sim = make_app(state)
    app = web.Application()
    holder: dict[str, Endpoints] = {}

    def hit(name: str) -> None:
        holder["e"].hits[name] = holder["e"].hits.get(name, 0) + 1

    async def plain(request: web.Request) -> web.Response:
        hit("plain")
        return web.Response(text=holder["e"].plain_body[0], content_type="text/plain")

    async def openmetrics(request: web.Request) -> web.Response:
        hit("openmetrics")
        return web.Response(
            body=OPENMETRICS.encode(),
            headers={"Content-Type": "application/openmetrics-text; version=1.0.0; charset=utf-8"},
        )

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="<!DOCTYPE html><html><body>login</body></html>", content_type="text/html")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late 1\n")

    async def own(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), content_type="text/plain")

    async def query(request: web.Request) -> web.Response:
        hit("prometheus")
        holder["e"].queries.append(dict(request.query))
        status, answer = PROMETHEUS_ANSWERS.get(request.query.get("query", ""), (200, _vector()))
        if isinstance(answer, str):
            return web.Response(status=status, text=answer)
        return web.json_response(answer, status=status)

    async def not_prometheus(request: web.Request) -> web.Response:
        return web.Response(text="<html>proxy error</html>", status=502)

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain; version=0.0.4"})
        await response.prepare(request)
        for start in range(0, BIG_SERIES, 1000):  # many chunks, as a large target sends them
            lines = (
                f'big_gauge{{series="{i:06d}",pad="{"x" * 40}"}} {i}\n' for i in range(start, start + 1000)
            )
            await response.write("".join(lines).encode())
        await response.write_eof()
        return response

    app.router.add_get("/big", big)
    app.router.add_get("/plain", plain)
    app.router.add_get("/openmetrics", openmetrics)
    app.router.add_get("/broken", broken)
    app.router.add_get("/garbage", garbage)
    app.router.add_get("/slow", slow)
    app.router.add_get("/own", own)
    app.router.add_get("/prom/api/v1/query", query)
    app.router.add_get("/proxy/api/v1/query", not_prometheus)
    app.add_subapp("/sim", sim)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    holder["e"] = Endpoints(base=f"http://{host}:{port}", sim_state=state, sim_app=sim)
    yield holder["e"]
    await runner.cleanup()


SOURCES = """\
sources:
  scrape:
    - {name: sim, url_env: SIM_URL, timeout: 2s, labels: {service: checkout}}
    - {name: plain, url_env: PLAIN_URL, timeout: 2s}
    - {name: big, url_env: BIG_URL, timeout: 10s}
    - {name: om, url_env: OM_URL, timeout: 2s}
    - {name: broken, url_env: BROKEN_URL, timeout: 2s, labels: {service: broken-app}}
    - {name: garbage, url_env: GARBAGE_URL, timeout: 2s}
    - {name: unreachable, url_env: UNREACHABLE_URL, timeout: 2s}
    - {name: slow, url_env: SLOW_URL, interval: 15s, timeout: 1s}
    - {name: unset, url_env: NOBODY_SET_THIS_URL}
  prometheus:
    - {name: prom, url_env: PROM_URL, timeout: 2s}
    - {name: proxy, url_env: PROXY_URL, timeout: 2s}
  sql:
    - name: rows_probe
      database: self
      query: "SELECT kind, n::float8 AS value FROM (VALUES ('a', 1), ('b', 2), ('a', 3)) AS t(kind, n)"
    - name: null_probe
      database: self
      query: "SELECT 'x' AS kind, NULL::float8 AS value"
    - name: sleepy_probe
      database: self
      timeout: 500ms
      query: "SELECT pg_sleep(5)::text AS slept, 1::float8 AS value"
    - name: extension_probe
      database: self
      requires_extension: incidentd_no_such_extension
      query: "SELECT 1::float8 AS value"
    - name: writing_probe
      database: self
      query: "WITH gone AS (DELETE FROM incidents RETURNING 1) SELECT count(*)::float8 AS value FROM gone"
    - name: missing_table_probe
      database: self
      query: "SELECT count(*)::float8 AS value FROM no_such_table"
    - name: remote_probe
      database: REMOTE_DATABASE_URL
      query: "SELECT 1::float8 AS value"
    - name: unset_probe
      database: NOBODY_SET_THIS_DSN
      query: "SELECT 1::float8 AS value"

"""


def _rule(alert: str, signal: str, *, warning: str = "1", when: str = "above", severity: str = "P3") -> str:
    fields = f"when: {when}, warning: {warning}, severity: {severity}"
    return f"      - {{alert: {alert}, signal: {{{signal}}}, {fields}}}"


RULES = SOURCES + "\n".join(
    [
        "groups:",
        "  - name: scrapes",
        "    interval: 15s",
        "    labels: {service: test, team: sre}",
        "    rules:",
        _rule(
            "SimErrorRate",
            "source: sim, ratio: {numerator: 'app_http_requests_total{status=\"5xx\"}',"
            " denominator: app_http_requests_total}",
            warning="1%",
            severity="P2",
        ),
        _rule(
            "SimP95",
            "source: sim, histogram: app_http_request_duration_seconds, quantile: p95, by: [service]",
            warning="1s",
            severity="P2",
        ),
        _rule(
            "SimQueue",
            "source: sim, gauge: 'app_queue_depth{queue=\"jobs\"}'",
            warning="50 jobs",
            severity="P2",
        ),
        _rule("PlainRate", "source: plain, rate: counter_total", warning="100"),
        _rule("PlainGauge", "source: plain, gauge: counter_total", warning="1000000"),
        _rule("BigGauge", "source: big, gauge: 'big_gauge{series=~\"0000..|0499..\"}'", warning="100"),
        _rule("PlainOther", "source: plain, gauge: other_gauge", warning="100"),
        _rule("OmDepth", "source: om, gauge: depth", warning="5"),
        _rule("BrokenGauge", "source: broken, gauge: x"),
        _rule("GarbageGauge", "source: garbage, gauge: x"),
        _rule("UnreachableGauge", "source: unreachable, gauge: x"),
        _rule("SlowGauge", "source: slow, gauge: late"),
        _rule("UnsetGauge", "source: unset, gauge: x"),
        "  - name: promql",
        "    interval: 1m",
        "    labels: {service: test}",
        "    rules:",
        _rule("AppDown", "source: prom, promql: 'up{job=\"app\"}', unit: count", when="below", severity="P0"),
        _rule(
            "AppDownAgain",
            "source: prom, promql: 'up{job=\"app\"}', unit: count",
            when="below",
            severity="P1",
        ),
        _rule("Scalar", "source: prom, promql: 'scalar(sum(up))', unit: count", warning="100"),
        _rule("Matrix", "source: prom, promql: 'up[5m]', unit: count"),
        _rule("BadQuery", "source: prom, promql: refused_by_the_server, unit: count"),
        _rule("NanValue", "source: prom, promql: nan_value, unit: count"),
        _rule("Proxied", "source: proxy, promql: up, unit: count", when="below"),
        "  - name: probes",
        "    interval: 1m",
        "    labels: {service: test}",
        "    rules:",
        _rule("RowsA", "probe: 'rows_probe{kind=\"a\"}'", warning="5"),
        _rule("RowsAll", "probe: rows_probe", warning="5"),
        _rule("NullRow", "probe: null_probe", warning="5"),
        _rule("Sleepy", "probe: sleepy_probe", warning="5"),
        _rule("NeedsExtension", "probe: extension_probe", warning="5"),
        _rule("Writes", "probe: writing_probe", warning="5"),
        _rule("MissingTable", "probe: missing_table_probe", warning="5"),
        _rule("Remote", "probe: remote_probe", warning="5"),
        _rule("UnsetProbe", "probe: unset_probe", warning="5"),
    ]
)


def _load(tmp_path: Path, text: str = RULES) -> RuleSet:
    from service.config.rule_files import load_rules

    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(text))
    ruleset, problems = load_rules([path])
    assert problems == []
    return ruleset


def _env(e: Endpoints) -> dict[str, str]:
    return {
        "SIM_URL": f"{e.base}/sim/metrics",
        "PLAIN_URL": f"{e.base}/plain",
        "BIG_URL": f"{e.base}/big",
        "OM_URL": f"{e.base}/openmetrics",
        "BROKEN_URL": f"{e.base}/broken",
        "GARBAGE_URL": f"{e.base}/garbage",
        "UNREACHABLE_URL": f"http://127.0.0.1:{_free_port()}/metrics",
        "SLOW_URL": f"{e.base}/slow",
        "PROM_URL": f"{e.base}/prom",
        "PROXY_URL": f"{e.base}/proxy/",
        "REMOTE_DATABASE_URL": f"postgresql://postgres:s3cret-pw@127.0.0.1:{_free_port()}/nowhere",
    }


def _status(collection: Collection, source: str) -> SourceStatus:
    (status,) = [s for s in collection.statuses if s.source == source]
    return status


def _rows(collection: Collection, rule: str) -> dict[tuple[tuple[str, str], ...], float] | None:
    rows = collection.values[rule]
    if rows is None:
        return None
    return {tuple(sorted(labels.items())): round(value, 6) for labels, value in rows}


def _rules(ruleset: RuleSet, *groups: str) -> list[Rule]:
    return [rule for rule in ruleset.rules() if rule.group in groups]


async def test_scrape_targets_good_and_bad(endpoints: Endpoints, database_url: str, tmp_path: Path) -> None:
    ruleset = _load(tmp_path)
    collector = Collector(ruleset.sources, env=_env(endpoints), self_database_url=database_url)
    try:
        first = await collector.collect(_rules(ruleset, "scrapes"), T0)
        assert endpoints.sim_app is not None
        # A minute of simulated traffic between the scrapes.
        endpoints.sim_app[getattr(simulated_app, "COUNTERS_KEY", "counters")].last -= 60
        endpoints.plain_body[0] = "# TYPE counter_total counter\ncounter_total 600\n"
        second = await collector.collect(_rules(ruleset, "scrapes"), T0 + timedelta(seconds=15))
    finally:
        await collector.close()

    assert first.inert == ["unset"]
    assert second.values["UnsetGauge"] is None
    assert {s.source for s in second.statuses} == {
        "sim", "plain", "big", "om", "broken", "garbage", "unreachable", "slow"
    }  # fmt: skip

    # Every series gets `job` (the source's name) and `instance` (host:port), as Prometheus adds them.
    where = ("instance", endpoints.base.removeprefix("http://"))
    plain = (where, ("job", "plain"))
    sim = (where, ("job", "sim"), ("service", "checkout"))
    # Rates need two scrapes: after the first they are held (None: not "no series"), then they have values.
    assert _rows(first, "SimErrorRate") is None
    assert _rows(first, "PlainRate") is None
    assert _rows(first, "PlainGauge") == {plain: 0.0}
    # 600 more in 15 s of a counter that began at 0 inside the 5 m window: PromQL does not stretch it.
    assert _rows(second, "PlainRate") == {plain: 2.0}
    assert _rows(second, "PlainGauge") == {plain: 600.0}
    error_rate = _rows(second, "SimErrorRate")
    assert error_rate is not None
    assert list(error_rate) == [sim]
    assert error_rate[sim] == pytest.approx(0.05, abs=0.002)
    p95 = _rows(second, "SimP95")
    # 95 % of the simulated requests land in the 0.25 s bucket: p95 is that bucket's bound.
    assert p95 is not None
    assert p95[sim] == pytest.approx(0.25, abs=0.01)
    assert _rows(second, "SimQueue") == {
        (where, ("job", "sim"), ("queue", "jobs"), ("service", "checkout")): 60.0
    }

    assert _rows(second, "OmDepth") == {(where, ("job", "om"), ("queue", "mail")): 7.0}
    assert _status(second, "om").ok

    for source in ("sim", "plain"):
        status = _status(second, source)
        assert status.ok
        assert status.error is None
        assert status.kind == "scrape"

    broken = _status(second, "broken")
    assert (broken.ok, broken.error, broken.labels) == (
        False,
        "HTTP 500 Internal Server Error",
        {"job": "broken", "instance": where[1], "service": "broken-app"},
    )
    assert second.values["BrokenGauge"] is None
    garbage = _status(second, "garbage")
    assert not garbage.ok
    assert garbage.error is not None
    assert garbage.error.startswith("cannot parse the exposition: line 1: expected a metric name")
    unreachable = _status(second, "unreachable")
    assert not unreachable.ok
    assert unreachable.error is not None
    assert unreachable.error.startswith("cannot connect to 127.0.0.1:")
    slow = _status(first, "slow")
    assert (slow.ok, slow.error) == (False, "timed out after 1s")
    assert first.values["SlowGauge"] is None
    assert first.values["PlainGauge"] is not None


async def test_each_source_is_read_once_and_reused_within_its_interval(
    endpoints: Endpoints, database_url: str, tmp_path: Path
) -> None:
    ruleset = _load(tmp_path)
    collector = Collector(ruleset.sources, env=_env(endpoints), self_database_url=database_url)
    plain_rules = [r for r in ruleset.rules() if r.signal.source == "plain"]
    prom_rules = [r for r in ruleset.rules() if r.name in {"AppDown", "AppDownAgain"}]
    try:
        first = await collector.collect([*plain_rules, *prom_rules], T0)
        assert endpoints.hits == {"plain": 1, "prometheus": 1}
        # 5 s later: the 15 s scrape and the 1 m query are not due, and are reused as they were.
        again = await collector.collect([*plain_rules, *prom_rules], T0 + timedelta(seconds=5))
        assert endpoints.hits == {"plain": 1, "prometheus": 1}
        assert all(s.cached for s in again.statuses)
        assert again.values == first.values
        # Concurrent collects share one read.
        later = T0 + timedelta(seconds=60)
        await asyncio.gather(collector.collect(plain_rules, later), collector.collect(plain_rules, later))
        assert endpoints.hits["plain"] == 2
    finally:
        await collector.close()
    assert endpoints.queries[0] == {"query": 'up{job="app"}', "time": f"{T0.timestamp():.3f}"}


async def test_prometheus_api(endpoints: Endpoints, database_url: str, tmp_path: Path) -> None:
    ruleset = _load(tmp_path)
    collector = Collector(ruleset.sources, env=_env(endpoints), self_database_url=database_url)
    try:
        result = await collector.collect(_rules(ruleset, "promql"), T0)
    finally:
        await collector.close()
    assert _rows(result, "AppDown") == {(("instance", "a:9100"),): 1.0, (("instance", "b"),): 0.0}
    assert result.values["AppDownAgain"] == result.values["AppDown"]
    assert _rows(result, "Scalar") == {(): 42.5}
    nan_rows = result.values["NanValue"]
    assert nan_rows is not None
    assert nan_rows[0][1] != nan_rows[0][1]
    assert result.values["Matrix"] is None
    assert result.values["BadQuery"] is None
    prom = _status(result, "prom")
    assert not prom.ok
    assert prom.error is not None
    assert prom.error.startswith(("query failed (HTTP 400): bad_data", "the query returns a matrix"))
    proxy = _status(result, "proxy")
    assert (proxy.ok, proxy.error) == (False, "HTTP 502: the response is not the Prometheus API's JSON")
    assert result.values["Proxied"] is None
    assert len([q for q in endpoints.queries if q["query"] == 'up{job="app"}']) == 1


async def test_sql_probes_on_real_postgresql(endpoints: Endpoints, database_url: str, tmp_path: Path) -> None:
    ruleset = _load(tmp_path)
    collector = Collector(ruleset.sources, env=_env(endpoints), self_database_url=database_url)
    try:
        result = await collector.collect(_rules(ruleset, "probes"), T0)
    finally:
        await collector.close()
    assert result.values["RowsA"] == [({"kind": "a"}, 1.0), ({"kind": "a"}, 3.0)]
    assert result.values["RowsAll"] == [({"kind": "a"}, 1.0), ({"kind": "b"}, 2.0), ({"kind": "a"}, 3.0)]
    assert result.values["NullRow"] == []
    assert result.inert == ["unset_probe"]
    assert result.values["UnsetProbe"] is None

    sleepy = _status(result, "sleepy_probe")
    assert (sleepy.ok, sleepy.error) == (False, "query timed out after 0.5s (statement_timeout)")
    assert result.values["Sleepy"] is None
    extension = _status(result, "extension_probe")
    assert extension.error == (
        "incidentd_no_such_extension is not available (CREATE EXTENSION incidentd_no_such_extension)"
    )
    writes = _status(result, "writing_probe")
    assert writes.error is not None
    assert "read-only transaction" in writes.error
    missing = _status(result, "missing_table_probe")
    assert missing.error is not None
    assert 'relation "no_such_table" does not exist' in missing.error
    remote = _status(result, "remote_probe")
    assert remote.error is not None
    assert remote.error.startswith("cannot connect to database REMOTE_DATABASE_URL")
    assert all("s3cret" not in (s.error or "") for s in result.statuses)
    assert _status(result, "rows_probe").ok
    assert _status(result, "rows_probe").kind == "sql"


async def test_shipped_packs_work_out_of_the_box(endpoints: Endpoints, database_url: str) -> None:
    """`make run`: incidentd scrapes its own /metrics and probes its own database; app packs stay inert."""
    from service.config.rule_files import load_rules

    ruleset, problems = load_rules([ROOT / "rules"])
    assert problems == []
    collector = Collector(
        ruleset.sources, env={}, self_database_url=database_url, self_metrics_url=f"{endpoints.base}/own"
    )
    rules = list(ruleset.enabled_rules())
    try:
        result = await collector.collect(rules, T0)
    finally:
        await collector.close()
    assert set(result.inert) >= {"app", "app_prometheus", "app_db_connections"}
    assert {s.source: (s.ok, s.error) for s in result.statuses} == {
        "self": (True, None),
        "self_db_connections": (True, None),
        "self_db_size": (True, None),
    }
    (connections,) = result.values["IncidentdDatabaseConnectionsHigh"] or []
    assert 0 < connections[1] < 1
    (size,) = result.values["IncidentdDatabaseLarge"] or []
    assert size[1] > 1_000_000
    (memory,) = result.values["IncidentdMemoryHigh"] or []
    assert memory[1] > 1_000_000
    assert result.values["IncidentdCpuHigh"] is None  # a rate: needs a second scrape, held until then


async def test_groups_sharing_a_target_each_get_their_metrics(
    endpoints: Endpoints, database_url: str, tmp_path: Path
) -> None:
    """Whichever group's evaluation triggers a scrape, it keeps the metrics every group reads."""
    ruleset = _load(tmp_path)
    gauge, other = ruleset.rule("PlainGauge"), ruleset.rule("PlainOther")
    endpoints.plain_body[0] = "counter_total 5\nother_gauge 9\n"
    collector = Collector(ruleset.sources, env=_env(endpoints), self_database_url=database_url)
    try:
        await collector.collect([gauge], T0)
        await collector.collect([other], T0 + timedelta(seconds=5))  # reuses the scrape made for `gauge`
        await collector.collect([gauge], T0 + timedelta(seconds=15))
        shared = await collector.collect([other], T0 + timedelta(seconds=20))
    finally:
        await collector.close()
    assert endpoints.hits["plain"] == 2
    assert shared.values["PlainOther"] == [
        ({"job": "plain", "instance": endpoints.base.removeprefix("http://")}, 9.0)
    ]


async def test_a_large_exposition_arrives_whole(
    endpoints: Endpoints, database_url: str, tmp_path: Path
) -> None:
    ruleset = _load(tmp_path)
    collector = Collector(ruleset.sources, env=_env(endpoints), self_database_url=database_url)
    try:
        result = await collector.collect([ruleset.rule("BigGauge")], T0)
    finally:
        await collector.close()
    assert _status(result, "big").ok
    rows = result.values["BigGauge"]
    assert rows is not None
    # The first and the last 100 series: the whole body arrived, not just its first chunk.
    expected = [*range(100), *range(BIG_SERIES - 100, BIG_SERIES)]
    assert sorted(value for _, value in rows) == [float(i) for i in expected]

"""Scrape sources with many targets, against real HTTP(S) servers on 127.0.0.1.

Targets listed in the rule file and in file_sd files, the labels Prometheus
adds, basic auth, bearer tokens, TLS with a CA and a client certificate made
here with openssl, and one target going down while the others are evaluated.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import subprocess
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from conftest import require_tool

from service.adapters.postgres.database import Database
from service.alerting.evaluator import Evaluator
from service.alerting.rulebook import RuleBook
from service.clock import FrozenClock
from service.config.rule_files import load_rules
from service.domain.rules import RuleSet
from service.incidents.service import IncidentService
from service.sources.collector import Collection, Collector
from service.sources.metrics import SCRAPE_ERRORS

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
PASSWORD = "pw-Zq81-never-in-logs"
TOKEN = "tok-7Hc2-never-in-logs"


@dataclass
class Host:
    """One fake node exporter; `body` and `up` can change between scrapes."""

    body: str = "node_load1 9\n"
    up: bool = True
    require: Callable[[web.Request], bool] | None = None
    seen_auth: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


async def _serve(host: Host, tls: ssl.SSLContext | None = None) -> web.AppRunner:
    async def metrics(request: web.Request) -> web.Response:
        host.seen_auth.append(request.headers.get("Authorization", ""))
        if not host.up:
            return web.Response(status=503, text="down")
        if host.require is not None and not host.require(request):
            return web.Response(status=401, text="who are you")
        return web.Response(text=host.body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    server = site._server
    assert server is not None
    assert isinstance(server, asyncio.Server)
    host.port = server.sockets[0].getsockname()[1]
    return runner


@pytest.fixture
async def hosts() -> AsyncIterator[list[Host]]:
    found = [Host(), Host(), Host()]
    runners = [await _serve(h) for h in found]
    yield found
    for runner in runners:
        await runner.cleanup()


def _load(tmp_path: Path, *parts: str) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text("".join(textwrap.dedent(part) for part in parts))
    rules, problems = load_rules([path])
    assert problems == [], [str(p) for p in problems]
    return rules


def _gauge_rule(alert: str = "LoadHigh", source: str = "node", extra: str = "") -> str:
    return f"""
    groups:
      - name: hosts
        interval: 30s
        labels: {{service: hosts}}
        rules:
          - alert: {alert}
            signal: {{source: {source}, gauge: node_load1}}
            when: above
            warning: 5
            severity: P3
            {extra}
    """


def _rows(collection: Collection, rule: str = "LoadHigh") -> dict[str, dict[str, str]]:
    rows = collection.values[rule]
    assert rows is not None
    return {labels["instance"]: labels for labels, _ in rows}


async def test_targets_and_file_sd_get_job_and_instance_labels(hosts: list[Host], tmp_path: Path) -> None:
    a, b, c = hosts
    a.body = 'node_load1{job="exporter",rack="x"} 9\n'
    (tmp_path / "targets").mkdir()
    sd = tmp_path / "targets" / "racks.json"
    sd.write_text(json.dumps([{"targets": [c.address], "labels": {"rack": "r2", "dc": "ams"}}]))
    rules = _load(
        tmp_path,
        f"""
        sources:
          scrape:
            - name: node
              targets: ["{a.address}", "{b.address}"]
              file_sd: [targets/*.json]
              labels: {{team: infra}}
        """,
        _gauge_rule(),
    )
    collector = Collector(rules.sources, env={}, self_database_url=None)
    try:
        first = await collector.collect(list(rules.rules()), T0)
        assert _rows(first) == {
            # Scraped labels that clash with the target's are kept as exported_<name>.
            a.address: {
                "job": "node",
                "instance": a.address,
                "team": "infra",
                "rack": "x",
                "exported_job": "exporter",
            },
            b.address: {"job": "node", "instance": b.address, "team": "infra"},
            c.address: {"job": "node", "instance": c.address, "team": "infra", "rack": "r2", "dc": "ams"},
        }
        assert sorted(s.labels["instance"] for s in first.statuses) == sorted(
            [a.address, b.address, c.address]
        )
        assert all(s.ok and s.source == "node" for s in first.statuses)

        # The file changes: a YAML file joins, the JSON one loses its target.
        sd.write_text("[]")
        (tmp_path / "targets" / "more.yaml").write_text(
            f"- targets: ['{c.address}']\n  labels: {{rack: r9}}\n"
        )
        rules_yaml = tmp_path / "rules.yaml"
        rules_yaml.write_text(rules_yaml.read_text().replace("targets/*.json", "targets/*"))
        rules = _load(tmp_path, rules_yaml.read_text())  # already flat
        collector.update_sources(rules.sources)
        second = await collector.collect(list(rules.rules()), T0 + timedelta(seconds=30))
        assert _rows(second)[c.address]["rack"] == "r9"

        # A broken file keeps its last good targets and is reported as its own status.
        (tmp_path / "targets" / "more.yaml").write_text("- targets: [oops\n")
        third = await collector.collect(list(rules.rules()), T0 + timedelta(seconds=60))
        assert _rows(third)[c.address]["rack"] == "r9"
        (broken,) = [s for s in third.statuses if not s.ok]
        assert broken.labels["file_sd"].endswith("more.yaml")
        assert broken.error is not None
        assert "not valid YAML" in broken.error
    finally:
        await collector.close()


async def test_honor_labels_keeps_the_scraped_ones(hosts: list[Host], tmp_path: Path) -> None:
    a = hosts[0]
    a.body = 'node_load1{job="exporter"} 9\n'
    rules = _load(
        tmp_path,
        f"sources:\n  scrape:\n    - {{name: node, targets: ['{a.address}'], honor_labels: true}}\n",
        _gauge_rule(),
    )
    collector = Collector(rules.sources, env={}, self_database_url=None)
    try:
        collection = await collector.collect(list(rules.rules()), T0)
    finally:
        await collector.close()
    assert _rows(collection)[a.address] == {"job": "exporter", "instance": a.address}


async def test_basic_auth_and_bearer_tokens_never_leak(
    hosts: list[Host], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, _ = hosts
    expected_basic = "Basic " + base64.b64encode(f"scraper:{PASSWORD}".encode()).decode()
    a.require = lambda r: r.headers.get("Authorization") == expected_basic
    b.require = lambda r: r.headers.get("Authorization") == f"Bearer {TOKEN}"
    (tmp_path / "token").write_text(TOKEN + "\n")
    text = f"""
    sources:
      scrape:
        - name: node
          targets: ["{a.address}"]
          basic_auth: {{username: scraper, password_env: NODE_PASSWORD}}
        - name: api
          targets: ["{b.address}"]
          bearer_token_file: token
    """
    second = (
        "\n          - {alert: ApiLoad, signal: {source: api, gauge: node_load1}, when: above, warning: 5,"
        " severity: P3}"
    )
    rules = _load(tmp_path, text, _gauge_rule(extra=second))
    good = Collector(rules.sources, env={"NODE_PASSWORD": PASSWORD}, self_database_url=None)
    wrong = Collector(rules.sources, env={"NODE_PASSWORD": "not-it"}, self_database_url=None)
    unset = Collector(rules.sources, env={}, self_database_url=None)
    try:
        ok = await good.collect(list(rules.rules()), T0)
        refused = await wrong.collect(list(rules.rules()), T0)
        missing = await unset.collect(list(rules.rules()), T0)
    finally:
        for collector in (good, wrong, unset):
            await collector.close()
    assert [s.ok for s in ok.statuses] == [True, True], ok.statuses
    assert a.seen_auth[0] == expected_basic
    assert b.seen_auth[0] == f"Bearer {TOKEN}"
    (node,) = [s for s in refused.statuses if s.source == "node"]
    assert (node.ok, node.error) == (False, "HTTP 401 Unauthorized")
    (node,) = [s for s in missing.statuses if s.source == "node"]
    assert (node.ok, node.error) == (False, "password_env NODE_PASSWORD is not set")
    shown = repr([ok, refused, missing]) + "".join(capsys.readouterr())
    assert PASSWORD not in shown
    assert TOKEN not in shown


def test_secrets_written_into_rule_files_are_refused_without_echo(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        sources:
          scrape:
            - name: node
              targets: ["10.0.0.1:9100", "http://10.0.0.2:9100/metrics"]
              url: http://10.0.0.3:9100/metrics
              basic_auth: {{username: u, password: {PASSWORD}}}
              bearer_token: {TOKEN}
              file_sd: [targets.txt]
              tls_config: {{cert_file: client.crt}}
        """)
    )
    _, problems = load_rules([path])
    shown = [f"{p.line}: {p.field}: {p.message}" for p in problems]
    assert shown == [
        "3: sources.scrape.node: give url, url_env, or targets/file_sd, not both",
        "4: sources.scrape.node.targets[1]: expected host:port, got 'http://10.0.0.2:9100/metrics' "
        "(the scheme goes in scheme:, the path in metrics_path:)",
        "6: sources.scrape.node.basic_auth.password: write password_env or password_file: a password in a "
        "rule file is readable by everyone who can read the rules",
        "7: sources.scrape.node.bearer_token: write bearer_token_env or bearer_token_file: a token in a "
        "rule file is readable by everyone who can read the rules",
        "8: sources.scrape.node.file_sd[0]: expected a .json, .yml or .yaml file (a * is allowed), "
        "got 'targets.txt'",
        "9: sources.scrape.node.tls_config: give cert_file and key_file together (a client certificate)",
    ]
    assert not any(PASSWORD in s or TOKEN in s for s in shown)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _certificates(directory: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=ca",
             cwd=directory)  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl(
            "req",
            *key,
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=directory,
        )
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "1", "-extfile", "san.ext", cwd=directory)  # fmt: skip


async def test_tls_with_a_private_ca_and_a_client_certificate(tmp_path: Path) -> None:
    require_tool("openssl", "openssl")
    _certificates(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tmp_path / "ca.crt"))
    server_tls.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    server_tls.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no metrics
    host = Host()
    runner = await _serve(host, server_tls)
    target = f"['{host.address}']"
    variants = {
        "trusted": "tls_config: {ca_file: ca.crt, cert_file: client.crt, key_file: client.key}",
        "untrusted": "tls_config: {cert_file: client.crt, key_file: client.key}",
        "skip_verify": "tls_config: {insecure_skip_verify: true, cert_file: client.crt, "
        "key_file: client.key}",
        "no_client_cert": "tls_config: {ca_file: ca.crt}",
    }
    sources = "sources:\n  scrape:\n" + "".join(
        f"    - {{name: {name}, scheme: https, targets: {target}, {options}}}\n"
        for name, options in variants.items()
    )
    groups = "groups:\n  - name: tls\n    interval: 30s\n    labels: {service: tls}\n    rules:\n" + "".join(
        f"      - {{alert: Load_{name}, signal: {{source: {name}, gauge: node_load1}}, when: above, "
        "warning: 5, "
        "severity: P3}\n"
        for name in variants
    )
    rules = _load(tmp_path, sources, groups)
    collector = Collector(rules.sources, env={}, self_database_url=None)
    try:
        collection = await collector.collect(list(rules.rules()), T0)
    finally:
        await collector.close()
        await runner.cleanup()
    by_source = {s.source: s for s in collection.statuses}
    assert by_source["trusted"].ok, by_source["trusted"].error
    assert collection.values["Load_trusted"] == [({"job": "trusted", "instance": host.address}, 9.0)]
    assert by_source["skip_verify"].ok, by_source["skip_verify"].error
    untrusted = by_source["untrusted"]
    assert not untrusted.ok
    assert untrusted.error is not None
    assert untrusted.error.startswith(f"TLS with {host.address} failed")
    assert not by_source["no_client_cert"].ok


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


async def test_one_rule_covers_every_target_and_a_down_target_is_held_and_reported(
    db: Database, hosts: list[Host], tmp_path: Path, clock: FrozenClock
) -> None:
    a, b, _ = hosts
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "hosts.yaml").write_text(
        textwrap.dedent(
            f"""
            sources:
              scrape:
                - {{name: node, targets: ["{a.address}", "{b.address}"], interval: 15s, timeout: 2s}}
            """
        )
        + textwrap.dedent(_gauge_rule(extra="group_by: [alertname, instance]"))
    )
    book = RuleBook(rules_dir, clock)
    assert book.reload().accepted, book.last_problems
    incidents = IncidentService(db, clock=clock)
    collector = Collector(book.current.sources, env={}, self_database_url=None)
    evaluator = Evaluator(db=db, incidents=incidents, rulebook=book, source=collector, clock=clock)
    try:
        await evaluator.tick()
        opened = await incidents.list()
        # group_by instance: one incident per host.
        assert sorted(i.labels.get("instance", "") for i in opened) == sorted([a.address, b.address])

        b.up = False
        for _ in range(3):
            clock.advance(timedelta(seconds=30))
            await evaluator.tick()
        states = {
            row["labels"]["instance"]: row["status"]
            for row in await db.fetch("SELECT labels, status FROM alert_states WHERE rule = 'LoadHigh'")
        }
        assert states == {a.address: "firing", b.address: "firing"}  # b's alert is held, not resolved
        down = [i for i in await incidents.list() if i.labels.get("alertname") == "SourceDown_scrape_node"]
        assert len(down) == 1
        source_down = await db.fetch(
            "SELECT labels, status FROM alert_states WHERE rule = 'SourceDown_scrape_node'"
        )
        by_instance = {row["labels"]["instance"]: row["status"] for row in source_down}
        assert by_instance == {b.address: "firing"}
        _, events = await incidents.get(down[0].id)
        assert events[0].data["error"] == "HTTP 503 Service Unavailable"

        b.up = True
        clock.advance(timedelta(seconds=30))
        await evaluator.tick()
        assert (await incidents.get(down[0].id))[0].status.value == "resolved"
    finally:
        await collector.close()


def _scrape_errors(reason: str) -> float:
    value: float = SCRAPE_ERRORS.labels("node", reason)._value.get()
    return value


async def test_each_target_keeps_its_history_over_an_identical_reload_and_reports_its_own_dropped_samples(
    hosts: list[Host], tmp_path: Path
) -> None:
    a, b, _ = hosts
    source = f"""
    sources:
      scrape:
        - {{name: node, targets: ["{a.address}", "{b.address}"], interval: 15s}}
    """
    rate_rule = """
          - alert: Requests
            signal: {source: node, rate: req_total}
            when: above
            warning: 100
            severity: P3
    """
    rules = _load(tmp_path, source, _gauge_rule() + rate_rule)
    collector = Collector(rules.sources, env={}, self_database_url=None)
    duplicates, parse = _scrape_errors("duplicate"), _scrape_errors("parse")
    try:
        a.body = "node_load1 1\nreq_total 1000\n"
        b.body = "node_load1 2\nnode_load1 3\nreq_total 30\n"
        first = await collector.collect(list(rules.rules()), T0)
        warnings = {s.labels["instance"]: s.warning for s in first.statuses}
        assert warnings[a.address] is None
        assert (warnings[b.address] or "").startswith("1 duplicate sample(s) dropped")
        assert "node_load1" in (warnings[b.address] or "")
        assert all(s.ok for s in first.statuses)
        assert _scrape_errors("duplicate") == duplicates + 1
        assert first.values["Requests"] is None  # a rate needs two scrapes of a target: held, not "no series"

        collector.update_sources(_load(tmp_path, source, _gauge_rule() + rate_rule).sources)
        a.body = "node_load1 1\nreq_total 1150\n"
        b.body = "node_load1 2\nreq_total 180\n"
        second = await collector.collect(list(rules.rules()), T0 + timedelta(seconds=15))
        rates = {labels["instance"]: value for labels, value in second.values["Requests"] or []}
        # +150 in 15 s on each host, each from its own history. Stretched by half an interval towards
        # the 5 m window's start, but never past the counter's zero: a (from 1000) by 7.5 s, so
        # 150 * 22.5 / 15 / 300; b (from 30, zero 3 s before its first sample) by 3 s only.
        assert rates == {a.address: pytest.approx(0.75), b.address: pytest.approx(0.6)}
        assert _scrape_errors("duplicate") == duplicates + 1

        a.body = "node_load1 1_000\n"
        third = await collector.collect(list(rules.rules()), T0 + timedelta(seconds=30))
        broken = {s.labels["instance"]: s for s in third.statuses if not s.ok}
        assert list(broken) == [a.address]
        assert (broken[a.address].error or "").startswith("cannot parse the exposition")
        assert third.held["LoadHigh"] == [{"job": "node", "instance": a.address}]
        assert _scrape_errors("parse") == parse + 1

        # A changed definition starts the source afresh: one scrape since, so no rate yet.
        changed = source.replace("interval: 15s", "interval: 15s, labels: {team: infra}")
        rules = _load(tmp_path, changed, _gauge_rule() + rate_rule)
        collector.update_sources(rules.sources)
        a.body = "node_load1 1\nreq_total 1300\n"
        fourth = await collector.collect(list(rules.rules()), T0 + timedelta(seconds=45))
        assert fourth.values["Requests"] is None  # held until a second scrape, not "no series"
    finally:
        await collector.close()

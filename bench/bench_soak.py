"""Soak: two `incidentd serve` replicas, 10 minutes, 5,000 P1s, PostgreSQL stopped twice, PagerDuty down once.

Everything runs as production does: each replica is `python -m service serve` with its default
components and every observer, reaching PostgreSQL only through a proxy this benchmark cuts (every
open connection dropped, new ones refused: what a replica sees when PostgreSQL stops), and talking to
the PagerDuty and Slack fakes of `service/testing/` through the real client libraries. A client declares
the incidents at an even pace over the run, against both replicas, retrying whatever a replica could not
accept (503 while PostgreSQL is away), as an alert source would.

A page is "delivered" when the PagerDuty fake accepts its trigger. Its delay is counted from the moment
it could have left: its declaration, or the end of the last outage (PostgreSQL or PagerDuty) that lay
between its declaration and its delivery. The targets are the product's promise: no page lost, none
sent twice, and every page held up by an outage delivered within 15 s of its dependency coming back.

SOAK_SECONDS (default 600) and SOAK_INCIDENTS (default 5000) shorten a run while developing; outages
scale with the duration (at most 30 s, 60 s and 15 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp
import harness
from scratch import run_in_scratch

from demo.processes import ROOT, ServiceProcess, free_port
from service.adapters.postgres.database import Database
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack
from service.testing.tcp_proxy import ThreadedTcpProxy

NAME = "soak"
DURATION = float(os.environ.get("SOAK_SECONDS", "600"))
INCIDENTS = int(os.environ.get("SOAK_INCIDENTS", "5000"))
REPLICAS = 2
TOKEN = "soak-writer-token"  # noqa: S105 - a local benchmark's API token
ROUTING_KEY = "R0SOAK0ROUTING0KEY00000000000000"
DELAY_TARGET = 15.0
DECLARE_SHARE = 0.85  # declarations end here; the rest of the run lets the last ones through
DRAIN_LIMIT = 120.0  # after the run: how long undelivered pages are waited for before they count as lost
_URL = re.compile(r"/incidents/(\d+)\b")


@dataclass
class Window:
    what: str
    start: float
    end: float = float("inf")


@dataclass
class Soak:
    proxy: ThreadedTcpProxy
    pagerduty: FakePagerDuty
    slack: FakeSlack
    replicas: list[ServiceProcess]
    windows: list[Window] = field(default_factory=list)
    declared_at: dict[str, float] = field(default_factory=dict)  # dedup key -> accepted by a replica
    refused: int = 0


def _proxy_for(url: str) -> tuple[ThreadedTcpProxy, str]:
    """A proxy in front of the server `url` names (TCP, or the embedded server's Unix socket)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    socket_dir = (query.get("host") or [""])[0]
    port = parts.port or 5432
    if socket_dir.startswith("/"):
        proxy = ThreadedTcpProxy("", port, unix_path=f"{socket_dir}/.s.PGSQL.{port}")
    elif parts.hostname:
        proxy = ThreadedTcpProxy(parts.hostname, port)
    else:
        raise SystemExit(f"{NAME}: cannot put a proxy in front of {parts.netloc or url!r}")
    user = parts.username or "postgres"
    netloc = f"{user}@127.0.0.1:{proxy.port}"
    return proxy, urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _rules_dir(work: Path) -> Path:
    """The shipped policy without rule files: every incident here is one the client declared."""
    rules = work / "rules"
    shutil.rmtree(rules, ignore_errors=True)
    shutil.copytree(ROOT / "rules" / "policy", rules / "policy")
    return rules


def _replica(n: int, url: str, soak_dir: Path, pd: FakePagerDuty, slack: FakeSlack) -> ServiceProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERDUTY_", "SLACK_", "INCIDENTD_"))}
    env.pop("DATABASE_URL", None)
    port = free_port()
    env.update(
        {
            "DATABASE_URL": url,
            "INCIDENTD_PORT": str(port),
            "INCIDENTD_API_TOKENS": f"soak={TOKEN}",
            "INCIDENTD_RULES_DIR": str(_rules_dir(soak_dir)),
            "INCIDENTD_DATA_DIR": str(soak_dir / f"replica-{n}"),
            "INCIDENTD_DB_CONNECT_TIMEOUT": "2",
            "INCIDENTD_LOG_FORMAT": "json",
            "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "PAGERDUTY_EVENTS_URL": pd.url,
            "SLACK_BOT_TOKEN": "xoxb-soak-bot-token",
            "SLACK_API_URL": f"{slack.url}/api/",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return ServiceProcess(env, soak_dir / f"replica-{n}.log")


async def _faults(soak: Soak, t0: float) -> None:
    """PostgreSQL away at 20 % of the run, PagerDuty answering 500 at 45 %, PostgreSQL away again at 70 %."""
    plan = [
        ("PostgreSQL", 0.20, min(30.0, DURATION / 10)),
        ("PagerDuty", 0.45, min(60.0, DURATION / 8)),
        ("PostgreSQL", 0.70, min(15.0, DURATION / 15)),
    ]
    for what, share, length in plan:
        await asyncio.sleep(max(0.0, t0 + share * DURATION - time.time()))
        window = Window(what, time.time())
        soak.windows.append(window)
        if what == "PostgreSQL":
            await asyncio.to_thread(soak.proxy.cut)
        else:
            soak.pagerduty.fail(500, count=10**9)
        print(f"  {window.start - t0:5.0f} s  {what} down for {length:.0f} s", flush=True)
        await asyncio.sleep(length)
        if what == "PostgreSQL":
            await asyncio.to_thread(soak.proxy.restore)
        else:
            soak.pagerduty.heal()
        window.end = time.time()


async def _declare(soak: Soak, http: aiohttp.ClientSession, n: int, limit: asyncio.Semaphore) -> None:
    key = f"soak-{n}"
    body: dict[str, object] = {"title": f"soak {n}: checkout errors", "severity": "P1", "dedup_key": key}
    body["labels"] = {"service": f"svc-{n % 40}"}
    attempt = 0
    while True:
        replica = soak.replicas[(n + attempt) % len(soak.replicas)]
        attempt += 1
        try:
            async with limit, http.post(f"{replica.url}/api/v1/incidents", json=body) as response:
                if response.status in (200, 201):
                    soak.declared_at.setdefault(key, time.time())
                    return
        except (aiohttp.ClientError, TimeoutError):
            pass
        soak.refused += 1
        await asyncio.sleep(min(2.0, 0.25 * attempt))


async def _declare_all(soak: Soak, t0: float) -> None:
    spacing = DECLARE_SHARE * DURATION / INCIDENTS
    limit = asyncio.Semaphore(24)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
        tasks = []
        for n in range(INCIDENTS):
            await asyncio.sleep(max(0.0, t0 + n * spacing - time.time()))
            tasks.append(asyncio.create_task(_declare(soak, http, n, limit)))
        await asyncio.gather(*tasks)


def _alerts_opened(pd: FakePagerDuty) -> dict[str, int]:
    """Per dedup key, how many PagerDuty alerts its events open: a trigger for a key whose alert is
    still open is deduplicated by PagerDuty (Events API v2), so only a trigger after a resolve pages again."""
    opened: dict[str, int] = {}
    open_now: set[str] = set()
    for request in list(pd.received):
        body = request.get("body") or {}
        key = str(body.get("dedup_key"))
        if not request.get("accepted"):
            continue
        if body.get("event_action") == "trigger" and key not in open_now:
            opened[key] = opened.get(key, 0) + 1
            open_now.add(key)
        elif body.get("event_action") == "resolve":
            open_now.discard(key)
    return opened


def _triggers(pd: FakePagerDuty) -> dict[str, list[float]]:
    """Accepted triggers by dedup key, with when each arrived."""
    found: dict[str, list[float]] = {}
    for request in list(pd.received):
        body = request.get("body") or {}
        if request.get("accepted") and body.get("event_action") == "trigger":
            found.setdefault(str(body.get("dedup_key")), []).append(float(request["at"]))
    return found


async def _pages(db: Database) -> dict[str, str]:
    """PagerDuty dedup key -> the client's dedup key, for every incident the client declared."""
    rows = await db.fetch(
        "SELECT p.dedup_key AS page, i.dedup_key AS key FROM pagerduty_dedup_keys p"
        " JOIN incidents i ON i.id = p.incident_id WHERE i.dedup_key LIKE 'soak-%'"
    )
    return {str(r["page"]): str(r["key"]) for r in rows}


async def _wait_delivered(db: Database, soak: Soak) -> None:
    deadline = time.time() + DRAIN_LIMIT
    while time.time() < deadline:
        incidents = await db.fetchval("SELECT count(*) FROM incidents WHERE dedup_key LIKE 'soak-%'")
        pages = await _pages(db)
        delivered = set(_triggers(soak.pagerduty)) & set(pages)
        pending = await db.fetchval("SELECT count(*) FROM notification_outbox WHERE status = 'pending'")
        if incidents >= len(soak.declared_at) and len(delivered) >= incidents and pending == 0:
            return
        await asyncio.sleep(1.0)


def _ready_at(declared: float, delivered: float, windows: list[Window]) -> tuple[float, bool]:
    """When the page could have left, and whether an outage held it up."""
    held = [w.end for w in windows if w.start < delivered and w.end > declared]
    return (max(declared, *held), True) if held else (declared, False)


def _slack_named(slack: FakeSlack, channel: str) -> dict[int, int]:
    """Incident id -> how many top-level messages in `channel` name it (a post, or a storm summary line)."""
    counts: dict[int, int] = {}
    for message in slack.top_level(channel):
        shown = message.text + json.dumps(message.blocks)  # sections, fields, context and button links
        for incident_id in {int(m) for m in _URL.findall(shown)}:
            counts[incident_id] = counts.get(incident_id, 0) + 1
    return counts


async def _measure(db: Database, soak: Soak) -> bool:
    pages = await _pages(db)
    triggers = _triggers(soak.pagerduty)
    keys = {
        str(r["dedup_key"])
        for r in await db.fetch("SELECT dedup_key FROM incidents WHERE dedup_key LIKE 'soak-%'")
    }
    by_key = {key: page for page, key in pages.items()}
    lost = sorted(k for k in keys if not triggers.get(by_key.get(k, "")))
    opened = _alerts_opened(soak.pagerduty)
    per_incident: dict[str, int] = {}
    for page, key in pages.items():
        per_incident[key] = per_incident.get(key, 0) + opened.get(page, 0)
    doubled = sorted(k for k in keys if per_incident.get(k, 0) > 1)
    repeated = sum(max(0, len(triggers.get(page, [])) - 1) for page in pages)
    held: list[float] = []
    clear: list[float] = []
    for key in keys - set(lost):
        arrived = triggers[by_key[key]][0]
        declared = soak.declared_at.get(key, arrived)
        ready, was_held = _ready_at(declared, arrived, soak.windows)
        (held if was_held else clear).append(max(0.0, arrived - ready))
    ids = [int(r["id"]) for r in await db.fetch("SELECT id FROM incidents WHERE dedup_key LIKE 'soak-%'")]
    slack_missing = slack_twice = 0
    for channel in ("#alerts", "#alerts-critical"):
        named = _slack_named(soak.slack, channel)
        slack_missing += sum(1 for i in ids if named.get(i, 0) == 0)
        slack_twice += sum(1 for i in ids if named.get(i, 0) > 1)
    worst_held = max(held, default=0.0)
    p99 = statistics.quantiles(clear, n=100)[98] if len(clear) >= 100 else max(clear, default=0.0)
    note = f"{DURATION:.0f} s run on a loaded shared machine (2 cores, 8 people)"
    figures = [
        ("incidents declared", float(len(keys)), "incidents", f"{INCIDENTS:,}", len(keys) == INCIDENTS),
        ("lost pages", float(len(lost)), "pages", "0", not lost),
        ("doubled pages (alerts opened twice)", float(len(doubled)), "pages", "0", not doubled),
        (
            "max delay after dependency back",
            worst_held,
            "s",
            f"<= {DELAY_TARGET:g}",
            worst_held <= DELAY_TARGET,
        ),
        (
            "Slack: incident never named in a channel",
            float(slack_missing),
            "messages",
            "0",
            slack_missing == 0,
        ),
        ("Slack: incident named twice in a channel", float(slack_twice), "messages", "0", slack_twice == 0),
    ]
    for title, value, unit, target, met in figures:
        harness.record(NAME, _key(title), value, unit, target=target, met=met, note=note)
    unsent = await db.fetch(
        "SELECT channel || ' ' || kind || ' ' || status AS what, count(*) AS n FROM notification_outbox"
        " WHERE status NOT IN ('sent', 'coalesced') GROUP BY 1 ORDER BY 1"
    )
    info = [
        *((f"outbox at the end: {r['what']}", float(r["n"]), "rows") for r in unsent),
        ("trigger events repeated (PagerDuty dedups them)", float(repeated), "events"),
        ("pages held up by an outage", float(len(held)), "pages"),
        ("p99 delivery, no outage in the way", p99, "s"),
        ("max delivery, no outage in the way", max(clear, default=0.0), "s"),
        ("declarations refused and retried", float(soak.refused), "requests"),
    ]
    for title, value, unit in info:
        harness.record(NAME, _key(title), value, unit, note=note)
    rows = [(t, v, u, tg, harness.verdict(m)) for t, v, u, tg, m in figures]
    rows += [(t, v, u, "", "") for t, v, u in info]
    outages = ", ".join(f"{w.what} {w.end - w.start:.0f} s" for w in soak.windows)
    harness.print_table(
        f"Soak: {REPLICAS} replicas, {DURATION:.0f} s, outages: {outages} (loaded shared machine)",
        ("figure", "value", "unit", "target", "verdict"),
        rows,
    )
    if lost:
        print(f"  lost: {', '.join(lost[:10])}{' …' if len(lost) > 10 else ''}")
    if doubled:
        print(f"  doubled: {', '.join(doubled[:10])}{' …' if len(doubled) > 10 else ''}")
    return all(met for *_, met in figures)


def _key(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


async def _soak(url: str) -> None:
    soak_dir = ROOT / ".data" / "bench-soak"
    soak_dir.mkdir(parents=True, exist_ok=True)
    proxy, proxied = _proxy_for(url)
    pd, slack = FakePagerDuty(), FakeSlack()
    await pd.start()
    await slack.start()
    replicas = [_replica(n, proxied, soak_dir, pd, slack) for n in range(REPLICAS)]
    soak = Soak(proxy, pd, slack, replicas)
    db = Database(url, min_size=1, max_size=2)
    ok = False
    try:
        for replica in replicas:
            replica.start()
        await asyncio.gather(*(r.wait_ready(timeout=120) for r in replicas))
        print(
            f"{REPLICAS} replicas ready; {INCIDENTS:,} P1s over {DURATION:.0f} s (logs: {soak_dir})",
            flush=True,
        )
        t0 = time.time()
        await asyncio.gather(_faults(soak, t0), _declare_all(soak, t0))
        await asyncio.sleep(max(0.0, t0 + DURATION - time.time()))
        await _wait_delivered(db, soak)
        ok = await _measure(db, soak)
    finally:
        for replica in replicas:
            replica.stop()
        await db.close()
        await pd.stop()
        await slack.stop()
        proxy.close()
    if not ok:
        sys.exit(1)


def main() -> None:
    run_in_scratch(_soak)


if __name__ == "__main__":
    main()

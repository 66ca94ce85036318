"""Recovery: a 20,000-message outbox backlog after an outage, drained by the service's own sender.

The service is built by `build_app` with the default components (bench/production.py); its
sender (`notification-sender`, the production worker and its pacing) delivers to the PagerDuty
and Slack fakes, which run on their own event loop in a thread. The backlog, in a scratch database:
10,000 Slack posts for 10,000 incidents over 200 channels (50 each) and 10,000 PagerDuty triggers
over 50 routing keys (200 each), all due now, with payloads built by the product's own message code.

Figures: messages/s in total to the fakes (first request to the last), and per-channel and per-key
compliance: the most requests any channel (or key) received in one second, against its limit:
Slack's chat.postMessage allows about one message per second per channel (the policy's
`min_interval`); PagerDuty's Events API v2 allows 120 events per minute per routing key.

What the target can mean: every one of the 20,000 is a separate message that must reach its
provider (a post for a new incident, a trigger for its own dedup key), so nothing coalesces
(Slack updates fold into one edit per incident, but there are none here; storm summaries are
chosen when intents are written, not by the sender). The drain then takes at least as long as
the busiest target needs under its limit, and the table prints that ceiling beside the rate:
under the product's pacing (Slack 1/s, burst 1; PagerDuty 1.8/s after a burst of 12, which keeps
any 60 s window at or below 120) and under the providers' documented limits at their most
generous (PagerDuty: about 120 calls per 60 s looking back, per integration key, so 120 at once
and the rest a minute later). Both are far below 2,000/s; the verdict says so instead of
changing the scenario.

Usage: python bench/bench_outbox.py [--messages 20000] [--timeout 240]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from production import ROOT, build_service
from scratch import run_in_scratch, seed_incidents
from threaded_fakes import ThreadedFakes

from service.clock import system_clock
from service.domain.incidents import Incident, Status, TimelineEvent
from service.domain.severity import Severity
from service.notifications import messages
from service.notifications.channels.pagerduty.notifier import PACING as PD_PACING
from service.notifications.sender import SENDER
from service.notifications.snapshots import snapshot
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack

BENCH = "outbox"
CHANNELS = 200
KEYS = 50
SLACK_PER_S = 1.0
PD_PER_MIN = 120.0


def _paced_span(count: int, rate: float, burst: float) -> float:
    """Seconds from the first to the last of `count` sends through a full token bucket."""
    return max(0.0, (count - burst) / rate)


def _window_span(count: int, per_window: int, window: float) -> float:
    """Seconds from the first to the last of `count` sends under "at most N in any window"."""
    return ((count - 1) // per_window) * window if count > 0 else 0.0


def ceilings(total: int) -> tuple[float, float, float, float]:
    """(product pacing span, its messages/s, documented-limits span, its messages/s) for the backlog."""
    half = total // 2
    per_channel, per_key = -(-half // CHANNELS), -(-half // KEYS)
    paced = max(
        _paced_span(per_channel, SLACK_PER_S, 1.0), _paced_span(per_key, PD_PACING.rate, PD_PACING.burst)
    )
    documented = max(
        _window_span(per_channel, 1, 1.0 / SLACK_PER_S), _window_span(per_key, int(PD_PER_MIN), 60.0)
    )
    return paced, total / paced if paced else 0.0, documented, total / documented if documented else 0.0


class Fakes(ThreadedFakes):
    def __init__(self) -> None:
        self.pagerduty = FakePagerDuty()
        self.slack = FakeSlack(channel_names=tuple(f"bench-{i:03d}" for i in range(CHANNELS)))
        super().__init__(self.pagerduty, self.slack)

    def delivered(self) -> list[tuple[float, str]]:
        """(arrival time, channel or routing key) of every accepted message."""
        out: list[tuple[float, str]] = []
        for fake in (self.pagerduty, self.slack):
            with fake._lock:
                rows = list(fake.received)
            for row in rows:
                body = row["body"]
                if row["path"] == "/v2/enqueue" and row.get("accepted"):
                    out.append((row["at"], f"pd:{body.get('routing_key')}"))
                elif row["path"] == "/api/chat.postMessage" and row.get("ok"):
                    out.append((row["at"], f"slack:{body.get('channel')}"))
        return sorted(out)


def _payloads(count: int) -> tuple[dict[str, object], list[dict[str, object]]]:
    now = datetime.now(UTC)
    incident = Incident(
        id=1, dedup_key="bench-1", title="bench: queue depth above 95 jobs", description="",
        severity=Severity.P1, status=Status.TRIGGERED, labels={"service": "bench"}, assignee=None,
        created_by="rules", source="rules", created_at=now, updated_at=now,
        acknowledged_at=None, mitigated_at=None, resolved_at=None,
    )  # fmt: skip
    event = TimelineEvent(
        id=1, incident_id=1, at=now, kind="declared", actor="rules", source="rules",
        data={"title": incident.title, "severity": "P1", "labels": incident.labels},
    )  # fmt: skip
    snap = snapshot(incident, [event], "http://127.0.0.1:8080")
    snap["slack_url"] = None
    triggers = [messages.pagerduty_trigger(snap, f"bench-{n}", Severity.P1) for n in range(1, count + 1)]
    return {"snapshot": snap, "changes": []}, triggers


async def _run(url: str, total: int, timeout: float) -> None:
    fakes = Fakes()
    fakes.start()
    env = {
        "SLACK_API_URL": f"{fakes.slack.url}/api/",
        "PAGERDUTY_EVENTS_URL": fakes.pagerduty.url,
        **{f"PAGERDUTY_ROUTING_KEY_KEY{k}": f"R{k:031d}" for k in range(KEYS)},
    }
    service = build_service(url, ROOT / "rules", clock=system_clock, env=env)
    for name in ("httpx2", "httpx", "pagerduty"):  # the PagerDuty client logs every request at info
        logging.getLogger(name).setLevel(logging.WARNING)
    db = service.db
    half = total // 2
    try:
        await seed_incidents(db, half)
        post, triggers = _payloads(half)
        await db.execute(
            "INSERT INTO notification_outbox (incident_id, channel, kind, target, payload, next_attempt_at,"
            " created_at) SELECT n, 'slack', 'post', '#bench-' || lpad((n % $2)::text, 3, '0'), $3::jsonb,"
            " now(), now() FROM generate_series(1, $1) AS n",
            half, CHANNELS, post,
        )  # fmt: skip
        await db.execute(
            "INSERT INTO notification_outbox (incident_id, channel, kind, target, payload, next_attempt_at,"
            " created_at) SELECT n, 'pagerduty', 'trigger', 'key' || (n % $2), p, now(), now()"
            " FROM unnest($1::jsonb[]) WITH ORDINALITY AS u(p, n)",
            triggers, KEYS,
        )  # fmt: skip
        await db.execute("ANALYZE notification_outbox")
        sender = service.get(SENDER)
        stop = asyncio.Event()
        started = time.time()
        task = asyncio.create_task(sender.run(stop))
        while time.time() - started < timeout:
            await asyncio.sleep(1.0)
            if len(fakes.delivered()) >= total:
                break
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        left = await db.fetchval("SELECT count(*) FROM notification_outbox WHERE status = 'pending'")
    finally:
        await service.close()
        fakes.stop()
    delivered = fakes.delivered()
    _report(delivered, total, left, started, timeout)


def _worst_second(times: list[float]) -> int:
    worst, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        worst = max(worst, end - start + 1)
    return worst


def _worst_minute(times: list[float]) -> int:
    worst, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 60.0:
            start += 1
        worst = max(worst, end - start + 1)
    return worst


def _report(
    delivered: list[tuple[float, str]], total: int, left: int, started: float, timeout: float
) -> None:
    by_target: dict[str, list[float]] = defaultdict(list)
    for at, target in delivered:
        by_target[target].append(at)
    span = (delivered[-1][0] - delivered[0][0]) if len(delivered) > 1 else 0.0
    rate = len(delivered) / span if span > 0 else 0.0
    slack = {t: v for t, v in by_target.items() if t.startswith("slack:")}
    pd = {t: v for t, v in by_target.items() if t.startswith("pd:")}
    slack_worst = max((_worst_second(v) for v in slack.values()), default=0)
    pd_worst = max((_worst_minute(v) for v in pd.values()), default=0)
    slack_ok = slack_worst <= SLACK_PER_S + 1  # one second's window may hold two sends a second apart
    pd_ok = pd_worst <= PD_PER_MIN
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    done = len(delivered) >= total
    paced_span, paced_rate, documented_span, documented_rate = ceilings(total)
    of_ceiling = rate / paced_rate if paced_rate else 0.0
    harness.record(
        BENCH, "messages_per_s", rate, "messages/s", target=">= 2,000/s within every limit",
        met=done and rate >= 2000 and slack_ok and pd_ok,
        note=f"{len(delivered)} of {total} delivered in {span:.1f} s; {left} still pending at the end;"
        f" impossible within the limits: the ceiling is {paced_rate:.0f}/s under the product's pacing"
        f" ({2000 / paced_rate:.1f}x short) and {documented_rate:.0f}/s under the providers' documented"
        f" limits ({2000 / documented_rate:.1f}x short), set by {total // 2 // KEYS} triggers per key",
    )  # fmt: skip
    harness.record(
        BENCH, "ceiling_paced_per_s", paced_rate, "messages/s",
        note=f"busiest target needs {paced_span:.1f} s under the product's token buckets",
    )  # fmt: skip
    harness.record(
        BENCH, "ceiling_documented_per_s", documented_rate, "messages/s",
        note=f"busiest target needs {documented_span:.1f} s under Slack 1/s and PagerDuty 120 per 60 s",
    )  # fmt: skip
    harness.record(
        BENCH, "share_of_paced_ceiling", of_ceiling, "ratio", target=">= 0.9 (ours: provider-limited)",
        met=done and of_ceiling >= 0.9,
    )  # fmt: skip
    harness.record(BENCH, "delivered", len(delivered), "messages")
    harness.record(
        BENCH, "slack_worst_channel_per_s", slack_worst, "messages/s", target="<= 1/s per channel (+1 edge)",
        met=slack_ok,
    )  # fmt: skip
    harness.record(
        BENCH, "pagerduty_worst_key_per_min", pd_worst, "events/min", target="<= 120/min per key", met=pd_ok
    )
    harness.record(BENCH, "peak_rss_mb", rss, "MB", target="<= 300 MB", met=rss <= 300)
    harness.print_table(
        f"Outbox backlog after an outage: {total:,} messages, {CHANNELS} Slack channels, {KEYS} routing keys"
        " (production sender; loaded shared 2-core machine)",
        ("figure", "value", "target", "verdict"),
        [
            ("delivered", f"{len(delivered):,} of {total:,} in {span:.1f} s", f"all within {timeout:.0f} s",
             harness.verdict(done)),
            ("messages/s to the fakes", rate, ">= 2,000", harness.verdict(rate >= 2000)),
            ("  ceiling, product pacing", paced_rate, f"{2000 / paced_rate:.1f}x short of 2,000",
             "impossible"),
            ("  ceiling, documented limits", documented_rate, f"{2000 / documented_rate:.1f}x short of 2,000",
             "impossible"),
            ("  achieved / product ceiling", of_ceiling, ">= 0.9 (ours)",
             harness.verdict(done and of_ceiling >= 0.9)),
            ("Slack: most in 1 s to one channel", slack_worst, "<= 1 (+1 edge)", harness.verdict(slack_ok)),
            ("PagerDuty: most in 60 s to one key", pd_worst, "<= 120", harness.verdict(pd_ok)),
            ("peak RSS MB", rss, "<= 300", harness.verdict(rss <= 300)),
        ],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=420.0)
    args = parser.parse_args()

    async def run(url: str) -> None:
        await _run(url, args.messages, args.timeout)

    run_in_scratch(run)


if __name__ == "__main__":
    main()

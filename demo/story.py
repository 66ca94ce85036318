"""One incident's whole life, driven from outside: metric breach → page → escalation → ack → RCA.

Used by `make demo` (narrated, embedded PostgreSQL) and by tests/e2e (asserted, the
machine's PostgreSQL, optionally with a SIGKILL of incidentd right after the page
is decided). Everything talks HTTP: incidentd runs as its own process; the
simulated application, the PagerDuty and Slack fakes and the Slack "user" are
aiohttp servers in this process.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from demo.processes import ROOT, ServiceProcess, free_port, stop_leftover_postgres
from demo.watcher import Watcher
from service.testing import slack_preview
from service.testing.fake_pagerduty import FakePagerDuty
from service.testing.fake_slack import FakeSlack
from service.testing.fake_slack_user import SlackUser
from service.testing.simulated_app import State, make_app

TOKEN = "demo-token"  # noqa: S105 - a local demo's API token, printed for the reader on purpose
SIGNING_SECRET = "demo-signing-secret"  # noqa: S105
ROUTING_KEY = "R0DEMO0ROUTING0KEY0000000000000A"  # 32 characters, like a real integration key
BOT_TOKEN = "xoxb-demo-bot-token"  # noqa: S105


@dataclass
class StoryOptions:
    output: Path
    database_url: str | None = None  # None: incidentd starts its embedded PostgreSQL
    kill_after_page: bool = False
    narrate: Callable[[str], None] = print
    step_timeout: float = 45.0


@dataclass
class StoryResult:
    incident_id: int
    api_url: str
    pagerduty_events: list[dict[str, Any]]
    slack_calls: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    rca_markdown: str
    rca_files: list[Path]
    restarts: int = 0
    back_at: datetime | None = None  # when the restarted service was ready again (SIGKILL run)


class Story:
    def __init__(self, options: StoryOptions) -> None:
        self.options = options
        self.pagerduty = FakePagerDuty()
        self.slack = FakeSlack()
        self.app_state = State()
        self.started = time.monotonic()
        self.service: ServiceProcess | None = None
        self.user: SlackUser | None = None
        self._sim_runner: web.AppRunner | None = None
        self.watcher: Watcher | None = None

    def say(self, text: str) -> None:
        self.options.narrate(f"[{time.monotonic() - self.started:6.1f}s] {text}")

    async def _start_simulated_app(self) -> str:
        self._sim_runner = web.AppRunner(make_app(self.app_state), access_log=None)
        await self._sim_runner.setup()
        port = free_port()
        await web.TCPSite(self._sim_runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}/metrics"

    def _environment(self, metrics_url: str, port: int) -> dict[str, str]:
        import os

        rules = self.options.output / "rules"
        shutil.rmtree(rules, ignore_errors=True)
        (rules / "policy").mkdir(parents=True)
        shutil.copy(ROOT / "demo" / "rules" / "app-004.yaml", rules / "app-004.yaml")
        for policy in (ROOT / "rules" / "policy").glob("*.yaml"):
            shutil.copy(policy, rules / "policy" / policy.name)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PAGERDUTY_", "SLACK_", "INCIDENTD_"))
        }
        env.pop("DATABASE_URL", None)
        if self.options.database_url:
            env["DATABASE_URL"] = self.options.database_url
        else:
            # Kept after the run, so `INCIDENTD_DATA_DIR=<output>/data make run` shows the demo's incident.
            data = self.options.output / "data"
            stop_leftover_postgres(data / "postgres")
            shutil.rmtree(data, ignore_errors=True)
            env["INCIDENTD_DATA_DIR"] = str(data)
        env.update(
            {
                "INCIDENTD_PORT": str(port),
                "INCIDENTD_API_TOKENS": f"demo={TOKEN}",
                "INCIDENTD_RULES_DIR": str(rules),
                "INCIDENTD_ESCALATION_POLICY": str(ROOT / "demo" / "escalation-demo.yaml"),
                "INCIDENTD_LOG_FORMAT": "json",
                "APP_METRICS_URL": metrics_url,
                "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
                "PAGERDUTY_EVENTS_URL": self.pagerduty.url,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_API_URL": f"{self.slack.url}/api/",
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    async def set_app(self, **values: float) -> None:
        for key, value in values.items():
            setattr(self.app_state, key, value)
        shown = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in values.items())
        self.say(f"app: {shown}")

    async def until(self, what: str, check: Callable[[], Awaitable[bool]]) -> None:
        deadline = time.monotonic() + self.options.step_timeout
        while not await check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {self.options.step_timeout:.0f} s for: {what}")
            await asyncio.sleep(0.25)

    async def run(self) -> StoryResult:
        self.options.output.mkdir(parents=True, exist_ok=True)
        await self.pagerduty.start()
        await self.slack.start()
        metrics_url = await self._start_simulated_app()
        port = free_port()
        env = self._environment(metrics_url, port)
        self.service = ServiceProcess(env, self.options.output / "incidentd.log")
        self.user = SlackUser(f"{self.service.url}/slack/commands", SIGNING_SECRET)
        await self.user.start()
        self.say(f"PagerDuty fake on {self.pagerduty.url}, Slack fake on {self.slack.url}")
        self.say(f"simulated app metrics on {metrics_url}")
        self.say(f"starting incidentd on {self.service.url} (log: {self.service.log_path})")
        self.service.start()
        await self.service.wait_ready()
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            self.watcher = Watcher(self.service.url, http, self.pagerduty, self.slack, self.say)
            return await self._story(http)

    async def _story(self, http: aiohttp.ClientSession) -> StoryResult:  # noqa: PLR0915 - read as narrated
        assert self.service is not None
        assert self.user is not None
        assert self.watcher is not None
        watch = self.watcher
        restarts = 0
        back_at: datetime | None = None
        self.say("incidentd is ready; the app is healthy (error rate 0.2 %, queue 3 jobs)")
        await self.until("first evaluation", watch.rules_evaluated)

        await self.set_app(error_rate=0.05)
        self.say("error rate 5 % is above 004's warning threshold of 3 %")
        await self.until("incident opened", watch.incident_open)
        incident_id = watch.incident_id
        assert incident_id is not None

        if self.options.kill_after_page:
            self.pagerduty.fail(503, count=10_000)  # the page cannot leave before the crash
            self.say("PagerDuty fake now answers 503: the page will have to wait in the outbox")
        await self.set_app(error_rate=0.15, queue_depth=120)
        self.say("error rate 15 % is above 004's critical 10 %; queue 120 jobs is above the warning 50")
        await self.until("raised to P1", lambda: watch.has_event("severity_raised"))
        if self.options.kill_after_page:
            self.say("SIGKILL incidentd right after it decided to page (the page may not be sent yet)")
            self.service.kill()
            restarts += 1
            await asyncio.sleep(1.0)
            self.service.start()
            await self.service.wait_ready()
            back_at = datetime.now(UTC)
            self.pagerduty.heal()
            self.say("incidentd restarted; PagerDuty fake healthy again")
        await self.until("PagerDuty trigger", lambda: watch.pagerduty_received("trigger"))
        await self.set_app(queue_depth=260)
        self.say("queue 260 jobs is above 004's critical 200; nobody acknowledges yet")
        await self.until("escalation to level 2", lambda: watch.escalated_to(2))

        status, reply = await self.user.command(f"ack INC-{incident_id}")
        self.say(
            f"Slack: @oncall-alice types `/incident ack INC-{incident_id}` -> HTTP {status}: "
            f"{reply.get('text', '')}"
        )
        await self.until("acknowledged", lambda: watch.has_event("acknowledged"))
        await self.until("PagerDuty acknowledge", lambda: watch.pagerduty_received("acknowledge"))

        await self.set_app(error_rate=0.002, queue_depth=3)
        self.say("the fix is rolled out: error rate 0.2 %, queue 3 jobs")
        await self.until("alerts cleared, incident mitigated", lambda: watch.has_event("mitigated"))
        await self.until("PagerDuty resolve on recovery", lambda: watch.pagerduty_received("resolve"))
        self.say(
            "every alert cleared: PagerDuty got `resolve`, its paging stops; the incident stays mitigated"
        )
        status, reply = await self.user.command(f"resolve INC-{incident_id} rolled back release 2026.11.3")
        self.say(
            f"Slack: `/incident resolve INC-{incident_id} rolled back release 2026.11.3` -> HTTP {status}"
        )
        await self.until("resolved", lambda: watch.has_event("resolved"))
        await self.until("Slack message updated", watch.slack_settled)

        rca_markdown, files = await self._rca(http, incident_id)
        preview = self.options.output / "slack.html"
        preview.write_text(slack_preview.render(self.slack))
        self.say(f"Slack channels as people see them: {preview}")
        await watch.poll()
        return StoryResult(
            incident_id=incident_id,
            api_url=self.service.url,
            pagerduty_events=self.pagerduty.events,
            slack_calls=[r for r in self.slack.received if r.get("ok")],
            timeline=watch.timeline,
            rca_markdown=rca_markdown,
            rca_files=files,
            restarts=restarts,
            back_at=back_at,
        )

    async def _rca(self, http: aiohttp.ClientSession, incident_id: int) -> tuple[str, list[Path]]:
        assert self.service is not None
        base = f"{self.service.url}/api/v1/incidents/{incident_id}/rca"
        async with http.post(f"{base}/") as response:
            if response.status not in (200, 201):
                raise RuntimeError(f"RCA generation failed: {response.status} {await response.text()}")
        async with http.get(f"{base}/export") as response:
            markdown = await response.text()
        files = [self.options.output / f"INC-{incident_id}-rca.md"]
        async with http.get(f"{base}/chart.svg") as response:
            if response.status == 200:
                chart = self.options.output / f"INC-{incident_id}-rca-chart.svg"
                chart.write_text(await response.text())
                files.append(chart)
                markdown = markdown.replace(f"/api/v1/incidents/{incident_id}/rca/chart.svg", chart.name)
        files[0].write_text(markdown)
        self.say(f"RCA drafted from the timeline: {files[0]}")
        return markdown, files

    async def close(self) -> None:
        if self.service is not None:
            self.service.stop()
        if self.user is not None:
            await self.user.stop()
        if self._sim_runner is not None:
            await self._sim_runner.cleanup()
        await self.pagerduty.stop()
        await self.slack.stop()


async def run_story(options: StoryOptions) -> StoryResult:
    story = Story(options)
    try:
        return await story.run()
    finally:
        await story.close()

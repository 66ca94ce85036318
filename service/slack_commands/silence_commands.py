"""`/incident silence`, `silences`, `unsilence`, `maintenance start`: through the same Silences use cases
as Alertmanager's API, so a silence made in Slack is the one amtool lists."""

from __future__ import annotations

from service.clock import Clock
from service.domain.durations import format_duration
from service.domain.silence_matchers import render
from service.notifications.channels.slack.text import code, escape
from service.silences.service import SilenceNotFound, SilenceRefused, Silences
from service.slack_commands import silence_parsing as parsed
from service.slack_commands.replies import Reply, problem_reply

SilencingCommand = parsed.Silence | parsed.ListSilences | parsed.Unsilence | parsed.StartWindow
LIST_LIMIT = 20


async def run_silencing(
    command: SilencingCommand, who: str, mention: str, silences: Silences | None, clock: Clock
) -> Reply:
    if silences is None:
        return problem_reply("silences are not available in this deployment")
    now = clock()
    try:
        match command:
            case parsed.Silence(matchers=matchers, duration=duration, comment=comment):
                silence_id = await silences.upsert(
                    matchers=matchers,
                    starts_at=now,
                    ends_at=now + duration,
                    created_by=who,
                    comment=comment,
                )
                until = (now + duration).strftime("%H:%M UTC")
                note = f": {escape(comment)}" if comment else ""
                return Reply(
                    f":mute: {mention} silenced {code(render(matchers))} for {format_duration(duration)}"
                    f" (until {until}){note}\nid `{silence_id}`",
                    "in_channel",
                )
            case parsed.ListSilences():
                found = [s for s in await silences.listing() if s.state(now).value != "expired"]
                if not found:
                    return Reply("No active or pending silences.")
                lines = [f"*Silences* ({len(found)}):"]
                for s in found[:LIST_LIMIT]:
                    lines.append(
                        f"• `{s.id}` {s.state(now).value}: {code(render(s.matchers))} until"
                        f" {s.ends_at.strftime('%Y-%m-%d %H:%M UTC')}, by {escape(s.created_by)}"
                        + (f": {escape(s.comment)}" if s.comment else "")
                    )
                return Reply("\n".join(lines))
            case parsed.Unsilence(silence_id=silence_id):
                silence = await silences.expire(silence_id, who)
                return Reply(
                    f":loud_sound: {mention} ended silence {code(render(silence.matchers))}", "in_channel"
                )
            case parsed.StartWindow(duration=duration, matchers=matchers):
                await silences.start_window(
                    name=f"ad-hoc by {who}"[:200],
                    matchers=matchers,
                    starts_at=now,
                    ends_at=now + duration,
                    owner=who,
                )
                scope = code(render(matchers)) if matchers else "every alert"
                return Reply(
                    f":construction: {mention} started maintenance for {format_duration(duration)}:"
                    f" {scope} is muted until {(now + duration).strftime('%H:%M UTC')}",
                    "in_channel",
                )
    except SilenceNotFound as exc:
        return problem_reply(f"{exc}; `silences` lists the current ones")
    except SilenceRefused as exc:
        return problem_reply(str(exc))
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover

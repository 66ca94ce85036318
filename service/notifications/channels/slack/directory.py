"""Slack IDs for the people an escalation policy names, so an escalation mentions them for real.

Slack notifies only for `<@U…>` and `<!subteam^S…>`; a plain `@tech-lead` wakes nobody.
The policy may name user groups by handle (`oncall`), users by handle (`@tech-lead`) or
e-mail, or give IDs outright (`S0123`, `U0456`). Names are looked up through slack_sdk
(usergroups.list, users.lookupByEmail, users.list) by a worker and kept in PostgreSQL
with an expiry; messages read that table inside the incident's transaction, so building
a message never waits on Slack. A name Slack does not know is a warning at start-up, in
`incidentd check` and on the timeline of the incident whose escalation could not mention it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import msgspec
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from service.adapters.postgres.database import Database
from service.clock import Clock
from service.dependencies import Key
from service.domain.escalation_policy import EscalationPolicy
from service.notifications.channels.slack.text import TargetKind, TargetName, user_mention, usergroup_mention
from service.supervisor import sleep_or_stop

log = structlog.get_logger(__name__)

Kind = TargetKind
Name = TargetName
TTL = timedelta(hours=1)
RETRY = timedelta(minutes=1)
_USER_ID = re.compile(r"<?@?([UW][A-Z0-9]{2,})>?")
_GROUP_ID = re.compile(r"(?:<!subteam\^)?(S[A-Z0-9]{2,})(?:\|[^>]*)?>?")


class Resolution(msgspec.Struct, frozen=True):
    slack_id: str | None
    label: str
    problem: str | None = None


def policy_names(policy: EscalationPolicy) -> list[Name]:
    """Every Slack user and user group any level of any ladder names, once each."""
    names: dict[Name, None] = {}
    for ladder in policy.ladders:
        for level in ladder.levels:
            names.update({("usergroup", g): None for g in level.targets.slack_usergroups})
            names.update({("user", u): None for u in level.targets.slack_users})
    return list(names)


def explicit(kind: Kind, name: str) -> Resolution | None:
    """An ID written in the policy needs no lookup."""
    pattern = _USER_ID if kind == "user" else _GROUP_ID
    match = pattern.fullmatch(name.strip())
    return Resolution(match.group(1), name.strip()) if match else None


def mention(kind: Kind, name: str, found: Resolution) -> str | None:
    if found.slack_id is None:
        return None
    if kind == "user":
        return user_mention(found.slack_id)
    return usergroup_mention(found.slack_id, found.label or name)


async def workspace_url(conn: asyncpg.Connection) -> str:
    url: str | None = await conn.fetchval(
        "SELECT label FROM slack_directory WHERE kind = 'workspace' AND name = 'url'"
    )
    return url or ""


async def mentions_for(conn: asyncpg.Connection, names: Sequence[Name]) -> dict[Name, str]:
    """Ready mentions for the names known to resolve (expired entries too: better than nobody)."""
    result: dict[Name, str] = {}
    lookup: list[Name] = []
    for kind, name in dict.fromkeys(names):
        given = explicit(kind, name)
        if given is not None:
            result[(kind, name)] = mention(kind, name, given) or ""
        else:
            lookup.append((kind, name))
    if lookup:
        rows = await conn.fetch(
            "SELECT kind, name, slack_id, label FROM slack_directory"
            " WHERE (kind, name) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND slack_id IS NOT NULL",
            [k for k, _ in lookup],
            [n for _, n in lookup],
        )
        for row in rows:
            kind = "user" if row["kind"] == "user" else "usergroup"
            shown = mention(kind, row["name"], Resolution(row["slack_id"], row["label"] or row["name"]))
            if shown:
                result[(kind, row["name"])] = shown
    return {k: v for k, v in result.items() if v}


def failure(exc: BaseException) -> str:
    """What went wrong asking Slack: its error code (`missing_scope` names the scope) or the exception."""
    if isinstance(exc, SlackApiError):
        code = str(exc.response.get("error") or "error")
        needed = exc.response.get("needed")
        return f"Slack said {code}" + (f" (needs scope {needed})" if needed else "")
    return type(exc).__name__


def _handle(name: str) -> str:
    return name.strip().lstrip("@").lower()


class SlackLookup:
    """Asks Slack who a name is; no storage (`incidentd check` uses it as it is)."""

    def __init__(self, token: str | None, api_url: str) -> None:
        self._client = (
            AsyncWebClient(token=token, base_url=api_url, timeout=10, retry_handlers=[]) if token else None
        )

    @property
    def configured(self) -> bool:
        return self._client is not None

    async def lookup(self, names: Sequence[Name]) -> dict[Name, Resolution]:
        """Ask Slack about each name; raises SlackApiError/OSError when Slack cannot be asked at all."""
        if self._client is None or not names:
            return {}
        found: dict[Name, Resolution] = {}
        if any(k == "usergroup" for k, _ in names):
            groups = (await self._client.usergroups_list()).get("usergroups") or []
            by_handle = {_handle(str(g.get("handle", ""))): g for g in groups}
            for kind, name in names:
                if kind == "usergroup":
                    group = by_handle.get(_handle(name))
                    found[(kind, name)] = (
                        Resolution(str(group["id"]), str(group.get("handle") or name))
                        if group
                        else Resolution(None, name, f"no Slack user group with handle @{_handle(name)}")
                    )
        users = [n for k, n in names if k == "user"]
        members = await self._members() if any("@" not in u.lstrip("@") for u in users) else []
        for name in users:
            found[("user", name)] = await self._user(name, members)
        return found

    async def _members(self) -> list[dict[str, Any]]:
        assert self._client is not None
        members: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await self._client.users_list(limit=200, cursor=cursor)
            members += list(page.get("members") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return members

    async def _user(self, name: str, members: list[dict[str, Any]]) -> Resolution:
        assert self._client is not None
        bare = name.strip().lstrip("@")
        if "@" in bare:
            try:
                answer = await self._client.users_lookupByEmail(email=bare)
            except SlackApiError as exc:
                if exc.response.get("error") == "users_not_found":
                    return Resolution(None, name, f"no Slack user with e-mail {bare}")
                raise
            return Resolution(str(answer["user"]["id"]), bare)
        wanted = _handle(bare)
        for member in members:
            profile = member.get("profile") or {}
            handles = {_handle(str(member.get("name", ""))), _handle(str(profile.get("display_name", "")))}
            if wanted in handles and not member.get("deleted"):
                return Resolution(str(member["id"]), bare)
        return Resolution(None, name, f"no Slack user with handle @{wanted}")

    async def workspace_url(self) -> str:
        """The workspace's address (auth.test `url`), which message permalinks start with."""
        if self._client is None:
            return ""
        return str((await self._client.auth_test()).get("url") or "")

    async def close(self) -> None:
        if self._client is not None and self._client.session is not None:
            await self._client.session.close()


def problems_of(names: Sequence[Name], found: Mapping[Name, Resolution]) -> list[str]:
    return [f"escalation policy: {k} {n!r}: {found[(k, n)].problem}" for k, n in names
            if (k, n) in found and found[(k, n)].problem]  # fmt: skip


class SlackDirectory:
    """Looks names up in Slack and keeps the answers in `slack_directory`."""

    def __init__(self, lookup: SlackLookup, db: Database, clock: Clock, names: Iterable[Name]) -> None:
        self._lookup = lookup
        self._db = db
        self._clock = clock
        self.names = [n for n in dict.fromkeys(names) if explicit(*n) is None]

    async def refresh(self) -> list[str]:
        """Look up names that are missing or expired; returns the problems (unknown names)."""
        now = self._clock()
        async with self._db.connection() as conn:
            rows = await conn.fetch("SELECT kind, name, problem, expires_at FROM slack_directory")
        known = {(r["kind"], r["name"]): r for r in rows}
        due = [n for n in self.names if n not in known or known[n]["expires_at"] <= now]
        if ("workspace", "url") not in known or known[("workspace", "url")]["expires_at"] <= now:
            url = await self._lookup.workspace_url()
            if url:
                await self._store({("workspace", "url"): Resolution(None, url)}, now)  # type: ignore[dict-item]
        found: dict[Name, Resolution] = {}
        if due:
            found = await self._lookup.lookup(due)
            await self._store(found, now)
            for (kind, name), res in found.items():
                if res.problem:
                    log.warning(
                        "slack_escalation_target_unresolved", kind=kind, name=name, problem=res.problem
                    )
        stored = {n: Resolution(None, n[1], r["problem"]) for n, r in known.items()}
        return problems_of(self.names, {**stored, **(found if due else {})})

    async def _store(self, found: Mapping[Name, Resolution], now: datetime) -> None:
        async with self._db.connection() as conn:
            await conn.executemany(
                """
                INSERT INTO slack_directory (kind, name, slack_id, label, problem, resolved_at, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (kind, name) DO UPDATE SET slack_id = EXCLUDED.slack_id, label = EXCLUDED.label,
                    problem = EXCLUDED.problem, resolved_at = EXCLUDED.resolved_at,
                    expires_at = EXCLUDED.expires_at
                """,
                [(k, n, r.slack_id, r.label, r.problem, now, now + TTL) for (k, n), r in found.items()],
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh at start-up and whenever entries expire; Slack being away keeps the old answers."""
        while not stop.is_set():
            wait = TTL / 4
            try:
                await self.refresh()
            except (SlackApiError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("slack_directory_unreachable", error=failure(exc))
                wait = RETRY
            await sleep_or_stop(stop, wait.total_seconds())

    async def close(self) -> None:
        await self._lookup.close()


SLACK_DIRECTORY: Key[SlackDirectory] = Key("slack_directory")

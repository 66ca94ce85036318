"""What GET /api/v2/alerts and /alerts/groups list: both doors' alerts, judged now, filtered as Alertmanager.

Alertmanager lists every alert that has not resolved (endsAt not passed), each with its
state: `suppressed` when a silence, a maintenance window (Alertmanager's time intervals)
or an inhibit rule holds it back, `unprocessed` when it fires unmuted but has not been
routed yet (here: no incident yet, which is the moment between a mute ending and the
sweeper's next beat), `active` otherwise. `active`, `silenced`, `inhibited` and
`unprocessed` drop the alerts of that kind; `filter` keeps those matching every matcher;
`receiver` is an anchored regex over the receivers an alert goes to (ours: `incidentd`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import msgspec

from service.adapters.postgres.database import DATABASE
from service.alerting.alertmanager_views import RECEIVER, AlertItem, wanted
from service.alerting.ingest import PUSHED_ALERTS
from service.alerting.pushed import fingerprint
from service.alerting.rulebook import RULEBOOK
from service.domain.mute_verdicts import Verdict
from service.domain.silence_matchers import Matcher, matches_all, parse_matchers
from service.silences.snapshot import MUTER, rule_alert_labels

RULE_ALERT_ENDS = 300.0  # seconds: our rules' alerts are shown as lasting this long past their last check
LIMIT = 10_000


class ReceiverError(ValueError):
    pass


def receiver_filter(raw: str | None) -> list[str]:
    """The receivers (of ours: one) that `receiver` selects, compiled as Alertmanager does."""
    if raw is None or raw == "":
        return [RECEIVER]
    try:
        pattern = re.compile(f"^(?:{raw})$")
    except re.error as exc:
        raise ReceiverError(f"invalid regex: {exc}") from None
    return [RECEIVER] if pattern.match(RECEIVER) else []


class AlertQuery(msgspec.Struct, frozen=True, kw_only=True):
    filters: tuple[Matcher, ...] = ()
    active: bool = True
    silenced: bool = True
    inhibited: bool = True
    unprocessed: bool = True

    @classmethod
    def parse(
        cls,
        raw: list[str] | None,
        *,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        unprocessed: bool = True,
    ) -> AlertQuery:
        """MatcherError for a filter that does not parse."""
        filters = [m for text in raw or [] for m in parse_matchers(text)]
        return cls(
            filters=tuple(filters),
            active=active,
            silenced=silenced,
            inhibited=inhibited,
            unprocessed=unprocessed,
        )


_PUSHED = """
SELECT fingerprint, labels, annotations, starts_at, received_at, ends_at, generator_url, group_key,
       incident_id
FROM pushed_alerts WHERE status = 'firing' AND ends_at > $1 ORDER BY starts_at DESC, fingerprint LIMIT $2
"""
_OWN = """
SELECT id, rule, labels, level, group_key, firing_since, updated_at, incident_id, muted FROM alert_states
WHERE status = 'firing' ORDER BY firing_since DESC LIMIT $1
"""


def _pushed_item(r: Any) -> AlertItem:
    return AlertItem(
        fingerprint=r["fingerprint"],
        labels=dict(r["labels"]),
        annotations=dict(r["annotations"]),
        starts_at=r["starts_at"],
        updated_at=r["received_at"],
        ends_at=r["ends_at"],
        generator_url=r["generator_url"],
        group_key=r["group_key"],
        firing=True,
        processed=r["incident_id"] is not None,
    )


def _own_item(r: Any, source: str) -> AlertItem:
    labels = rule_alert_labels(r["rule"], source, r["labels"], r["level"])
    if not labels.get("source"):
        labels.pop("source", None)
    return AlertItem(
        fingerprint=fingerprint(labels),
        labels=labels,
        annotations={},
        starts_at=r["firing_since"],
        updated_at=r["updated_at"],
        ends_at=r["updated_at"] + timedelta(seconds=RULE_ALERT_ENDS),
        generator_url="",
        group_key=r["group_key"],
        firing=True,
        processed=not (r["incident_id"] is None and r["muted"]),  # held back when it started firing
    )


async def judged_alerts(request: Any, query: AlertQuery) -> list[tuple[AlertItem, Verdict]]:
    """Pushed alerts and our own rules' firing alerts, each with its mute verdict as of now."""
    book = RULEBOOK.maybe(request)
    sources = {r.name: r.signal.source for r in book.current.rules()} if book is not None else {}
    now: datetime = PUSHED_ALERTS.of(request).clock()
    async with DATABASE.of(request).connection() as conn:
        pushed = await conn.fetch(_PUSHED, now, LIMIT)
        own = await conn.fetch(_OWN, LIMIT)
        snapshot = await MUTER.of(request).snapshot(conn, now)
    items = [_pushed_item(r) for r in pushed]
    items.extend(_own_item(r, sources.get(r["rule"], "")) for r in own)
    chosen: list[tuple[AlertItem, Verdict]] = []
    for item in items:
        if not matches_all(query.filters, item.labels):
            continue
        verdict = snapshot.verdict(item.labels, item.fingerprint)
        if wanted(
            verdict,
            processed=item.processed,
            active=query.active,
            silenced=query.silenced,
            inhibited=query.inhibited,
            unprocessed=query.unprocessed,
        ):
            chosen.append((item, verdict))
    return chosen

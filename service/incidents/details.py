"""What other rooms add to an incident's detail (`extras` of GET /api/v1/incidents/{id}).

Each capability contributes under one name it owns (`alerts`, `escalation`,
`notifications`); the composition root refuses two contributors for one name at
start-up, so one room can never silently overwrite another's part of the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

from service.dependencies import Key
from service.domain.incidents import Incident

# Returns the value shown under the contributor's name, or None to leave the name out.
DetailContributor = Callable[[Incident], Awaitable[object | None]]
DETAIL_CONTRIBUTORS: Key[Mapping[str, DetailContributor]] = Key("detail_contributors")


def merge_contributors(
    named: Iterable[tuple[str, Mapping[str, DetailContributor]]],
) -> dict[str, DetailContributor]:
    """One mapping from every component's contributors; a name contributed twice is an error."""
    merged: dict[str, DetailContributor] = {}
    owners: dict[str, str] = {}
    for owner, contributors in named:
        for name, contributor in contributors.items():
            if name in merged:
                raise ValueError(
                    f"incident detail {name!r} is contributed by both {owners[name]} and {owner}"
                )
            merged[name] = contributor
            owners[name] = owner
    return merged


async def contributed(contributors: Mapping[str, DetailContributor], incident: Incident) -> dict[str, object]:
    extras: dict[str, object] = {}
    for name, contribute in contributors.items():
        value = await contribute(incident)
        if value is not None:
            extras[name] = value
    return extras

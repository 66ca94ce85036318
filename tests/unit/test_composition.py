"""The composition root's guards: typed dependencies, detail names and observer order."""

from __future__ import annotations

import pytest

from service.adapters.postgres.database import Database
from service.components import Component, attach_in_order
from service.dependencies import Key, Registry
from service.domain.incidents import Incident
from service.incidents.details import merge_contributors
from service.incidents.service import IncidentChange, IncidentService, IncidentTransaction

NAME: Key[str] = Key("name")


async def _nothing(_: Incident) -> object | None:
    return None


def test_a_key_provided_twice_is_refused() -> None:
    registry = Registry([NAME.given("first")])
    assert registry.get(NAME) == "first"
    with pytest.raises(ValueError, match="name is provided twice"):
        registry.provide(NAME.given("second"))
    with pytest.raises(LookupError, match="nothing provides other"):
        registry.get(Key[int]("other"))


def test_two_rooms_contributing_one_detail_name_is_refused() -> None:
    merged = merge_contributors(
        [("alerting", {"alerts": _nothing}), ("escalation", {"escalation": _nothing})]
    )
    assert list(merged) == ["alerts", "escalation"]
    with pytest.raises(ValueError, match="'alerts' is contributed by both alerting and notifications"):
        merge_contributors([("alerting", {"alerts": _nothing}), ("notifications", {"alerts": _nothing})])


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, tx: IncidentTransaction, change: IncidentChange) -> None:
        return None


def test_observers_are_attached_in_the_stated_order_and_none_is_left_out() -> None:
    incidents = IncidentService(Database("postgresql://unused"))
    components = [Component("b", observers=[_Named("b")]), Component("a", observers=[_Named("a")])]
    attach_in_order(incidents, components, ["a", "b"])
    assert [o.name for o in incidents._observers if isinstance(o, _Named)] == ["a", "b"]
    with pytest.raises(ValueError, match="does not say where b goes"):
        attach_in_order(IncidentService(Database("postgresql://unused")), components, ["a"])

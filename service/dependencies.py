"""Typed dependencies: what the composition root provides to routes, looked up by a typed key.

A route asks `INCIDENTS.of(request)` and gets an `IncidentService`, checked by mypy,
instead of reading a string-keyed attribute of `app.state` and annotating it by hand.
Each key lives beside the room that needs it; app.py provides them all. Providing
one key twice fails at start-up, so two capabilities cannot shadow each other.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

from litestar.connection import ASGIConnection

T = TypeVar("T")

# The one entry of Litestar's app.state that incidentd uses.
STATE_NAME = "registry"


class Key(Generic[T]):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"

    def given(self, value: T) -> Provision:
        """This key bound to its value, as a component hands it to the composition root."""
        return Provision(self, value)

    def of(self, connection: ASGIConnection[Any, Any, Any, Any]) -> T:
        registry: Registry = connection.app.state[STATE_NAME]
        return registry.get(self)

    def maybe(self, connection: ASGIConnection[Any, Any, Any, Any]) -> T | None:
        """For what a capability that may be left out provides."""
        registry: Registry = connection.app.state[STATE_NAME]
        return registry.find(self)


class Provision:
    __slots__ = ("key", "value")

    def __init__(self, key: Key[Any], value: object) -> None:
        self.key = key
        self.value = value


class Registry:
    def __init__(self, provisions: list[Provision] | None = None) -> None:
        self._values: dict[Key[Any], object] = {}
        for provision in provisions or []:
            self.provide(provision)

    def provide(self, provision: Provision) -> None:
        if provision.key in self._values:
            raise ValueError(f"{provision.key.name} is provided twice")
        self._values[provision.key] = provision.value

    def get(self, key: Key[T]) -> T:
        try:
            return cast(T, self._values[key])
        except KeyError:
            raise LookupError(f"nothing provides {key.name}") from None

    def find(self, key: Key[T]) -> T | None:
        return cast(T | None, self._values.get(key))

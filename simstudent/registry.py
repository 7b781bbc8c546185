"""A tiny plugin registry: names resolved lazily to objects.

Each extension point (importers, backends, embedders, tutors) owns one Registry.
Entries are ``"package.module:attribute"`` strings until first use, so registering
the ``hf`` backend does not import torch, and ``import simstudent`` stays light.
Third-party code adds its own entry with ``REGISTRY.register("name", obj_or_path)``.
"""

from __future__ import annotations

import importlib
from typing import Any, Generic, Iterator, TypeVar, Union
from simstudent.errors import NotFoundError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object (or lazy ``"module:attr"`` path) for one extension point."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Union[str, T]] = {}

    def register(self, name: str, target: Union[str, T], *, replace: bool = False) -> None:
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = target

    def get(self, name: str) -> T:
        try:
            target = self._entries[name]
        except KeyError:
            raise NotFoundError(
                f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._entries)) or 'none'}"
            ) from None
        if isinstance(target, str) and ":" in target:
            module_name, attr = target.split(":", 1)
            target = getattr(importlib.import_module(module_name), attr)
            self._entries[name] = target
        return target  # type: ignore[return-value]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def resolve(registry: "Registry[Any]", name: str) -> Any:
    """Shorthand for ``registry.get(name)``."""
    return registry.get(name)

"""One Registry class and the three registries the harness looks things up in.

Methods, nets and datasets register themselves with a decorator; the harness never
imports a specific method, it asks ``METHODS`` (after :func:`load_plugins`).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from bench.errors import UserError


@dataclass(frozen=True)
class Entry:
    """A registered object plus its metadata (family, paper, config class, ...)."""

    name: str
    obj: Callable[..., Any]
    meta: dict[str, Any] = field(default_factory=dict)


class Registry:
    """A name -> Entry mapping filled by the ``register`` decorator."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._families: dict[str, Callable[[str], Entry]] = {}

    def register_family(self, prefix: str, make: Callable[[str], Entry]) -> None:
        """Names ``PREFIX:ARG`` resolve through ``make(ARG)`` (a user's ``csv:PATH`` data):
        the entry is built on first use, so any path is a name without a registration."""
        self._families[prefix] = make

    def register(self, name: str, **meta: Any) -> Callable[[Callable], Callable]:
        def decorate(obj: Callable) -> Callable:
            if name in self._entries and self._entries[name].obj is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, obj, dict(meta))
            return obj

        return decorate

    def get(self, name: str, where: str = "") -> Entry:
        family, colon, arg = name.partition(":")
        if name not in self._entries and colon and family in self._families:
            self._entries[name] = self._families[family](arg)
        if name not in self._entries:
            prefix = f"{where}: " if where else ""
            families = "".join(f", {f}:..." for f in sorted(self._families))
            raise UserError(
                f"{prefix}unknown {self.kind} {name!r}; accepted: {', '.join(self.names())}{families}"
            )
        return self._entries[name]

    def __contains__(self, name: str) -> bool:
        family, colon, _ = name.partition(":")
        return name in self._entries or bool(colon and family in self._families)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]


METHODS = Registry("method")
NETS = Registry("net")
DATASETS = Registry("dataset")

PLUGIN_PACKAGES = ("bench.teachers", "bench.nets", "bench.data", "methods", "baselines")


def load_plugins() -> None:
    """Import every package that registers methods, nets and datasets (idempotent)."""
    for package in PLUGIN_PACKAGES:
        importlib.import_module(package)

"""Named registries: the one lookup behind acquisition policies, trainers and dataset layouts.

A ``Registry`` maps a name to an entry (a class, an object, a spec). Entries either register
themselves when their module is imported (``modules``: imported on the first lookup, so reading
a registry imports nothing heavy until a name is needed) or are listed where the registry is
made. Every kind of extension reports an unknown name the same way.
"""

from __future__ import annotations

import importlib
from typing import TypeVar

T = TypeVar("T")


class Registry(dict[str, T]):
    """``name -> entry`` for one ``kind`` of extension (the kind names it in errors)."""

    def __init__(
        self, kind: str, modules: tuple[str, ...] = (), error: type[Exception] = ValueError
    ):
        super().__init__()
        self.kind, self.modules, self.error = kind, modules, error
        self._loaded = not modules

    def load(self) -> Registry[T]:
        """Import the registering modules (once)."""
        if not self._loaded:
            for module in self.modules:
                importlib.import_module(module)
            self._loaded = True
        return self

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self.load())

    def lookup(self, name: str) -> T:
        """The entry ``name``; ``error`` naming the registered ones (sorted) if there is none."""
        if name not in self.load():
            raise self.error(
                f"unknown {self.kind} '{name}' (registered: {', '.join(sorted(self))})"
            )
        return self[name]

    def check(self, name: str) -> str:
        """``name`` if registered (for config validators), else ``error``."""
        self.lookup(name)
        return name

"""Reversible monkey-patching: ``disable()`` must leave pandas exactly as it was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_MISSING = object()


@dataclass(slots=True)
class Patch:
    """One attribute replaced on one owner (a module or a class)."""

    owner: Any
    name: str
    make: Callable[[Any], Any]  # original -> replacement
    _own: Any = _MISSING  # what owner.__dict__ held before (absent for inherited methods)
    installed: bool = False

    @property
    def original(self) -> Any:
        own = self._own if self.installed else vars(self.owner).get(self.name, _MISSING)
        return getattr(self.owner, self.name) if own is _MISSING else own

    def install(self) -> None:
        if self.installed:
            return
        self._own = vars(self.owner).get(self.name, _MISSING)
        original = getattr(self.owner, self.name, None)
        replacement = self.make(original)
        setattr(self.owner, self.name, replacement)
        self.installed = True

    def uninstall(self) -> None:
        if not self.installed:
            return
        if self._own is _MISSING:
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, self._own)
        self._own = _MISSING
        self.installed = False

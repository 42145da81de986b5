"""One generic registry for plug-ins: classifiers, anonymization strategies, destinations, ..."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from lacuna.errors import PluginError, UnknownPluginError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named plug-ins of one kind. Unknown names fail with a suggestion.

    Example:
        >>> strategies = Registry[object](kind="strategy")
        >>> @strategies.register("hash")
        ... class Hash: ...
        >>> strategies.get("hash").__name__
        'Hash'
    """

    def __init__(self, *, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(item: T) -> T:
            if name in self._items:
                msg = f"a {self.kind} named {name!r} is already registered"
                raise PluginError(msg)
            self._items[name] = item
            return item

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._items, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            known = ", ".join(sorted(self._items))
            msg = f"no {self.kind} {name!r}.{hint} Registered: {known}."
            raise UnknownPluginError(msg) from None

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._items))

    def __len__(self) -> int:
        """How many are registered: a cheap version of a registry that only grows."""
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

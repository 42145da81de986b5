"""Installing the hooks of a frame library, reversibly, behind the pandas integration's guard.

Every hook runs behind :func:`lacuna.integrations.pandas._patch.guard` (passes through when
governance is off or Lacuna is calling the library itself; an internal error of Lacuna denies
in ``enforce`` mode). On top, hooks do not nest: polars implements ``DataFrame.select`` with
``LazyFrame.select`` and ``read_csv`` with ``scan_csv``, so only the outermost call a user made
is translated (:func:`outermost`).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lacuna.integrations.pandas._patch import Replacement, guard, unset
from lacuna.model import Action

_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("lacuna_frames_inside",
                                                               default=False)


def inside() -> bool:
    """Whether a hooked library call is already running in this context."""
    return _INSIDE.get()


class _Outermost(contextlib.AbstractContextManager[None]):
    """The block a hook runs its library call in (a class, not a generator: it wraps every
    polars expression method, where ``contextlib.contextmanager``'s cost shows)."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _INSIDE.set(True)

    def __exit__(self, *exc: object) -> None:
        _INSIDE.reset(self._token)


def outermost() -> contextlib.AbstractContextManager[None]:
    """Mark the calls the library makes inside this block as its own (:func:`passthrough`)."""
    return _Outermost()


def passthrough(original: Callable[..., Any], hook: Callable[..., Any]) -> Callable[..., Any]:
    """``hook`` for the outermost call, ``original`` for calls the library makes itself."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if _INSIDE.get():
            return original(*args, **kwargs)
        return hook(*args, **kwargs)

    return call


def outer(make: Callable[[Callable[..., Any]], Callable[..., Any]]
          ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``make`` whose hook runs only for the outermost call (:func:`passthrough`)."""

    def wrapped(original: Callable[..., Any]) -> Callable[..., Any]:
        return passthrough(original, make(original))

    return wrapped


@dataclass(slots=True)
class Hook(Replacement):
    """One attribute of ``owner`` replaced by ``make(original)`` behind the guard."""

    action: Action
    label: str
    # what the guard calls as the library's function: by default the attribute itself; DuckDB
    # passes a trampoline that calls it from the user's scope (see lacuna.integrations.duckdb)
    via: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None

    def build(self, original: Any) -> Any:
        called = self.via(original) if self.via is not None else original
        strip = ("exception_id", "purpose") if self.action is Action.EXPORT else ()
        return guard(self.make, called, action=self.action, method=self.label, strip=strip)


@dataclass(slots=True)
class PropertyHook(Hook):
    """A property of ``owner`` whose getter is replaced by ``make(getter)`` behind the guard
    (polars' ``Series.str``, ``Series.dt``, ...: the namespace object a getter returns), or
    with ``setter`` its setter by ``make(setter)`` (polars' ``df.columns = [...]``); the rest
    of the property kept."""

    setter: bool = False

    def build(self, original: Any) -> Any:
        if self.setter:
            return property(original.fget, Hook.build(self, original.fset), original.fdel,
                            original.__doc__)
        return property(Hook.build(self, original.fget), original.fset, original.fdel,
                        original.__doc__)


@dataclass(slots=True)
class ClassMethodHook(Hook):
    """A classmethod of ``owner`` (polars' ``DataFrame.deserialize``) replaced by a classmethod
    calling ``make(original)`` behind the guard, ``original`` bound to ``owner``: called on the
    class or on an instance, as the classmethod was."""

    def build(self, original: Any) -> Any:
        hooked = Hook.build(self, original)
        return classmethod(lambda _cls, *args, **kwargs: hooked(*args, **kwargs))


@dataclass(slots=True)
class ClassHook(Hook):
    """A class of ``owner`` replaced by ``make(original)``, a subclass that governs its
    instances itself (a streaming writer: decided at open, at each write and at close), so
    ``isinstance`` and subclassing keep working; no guard around the class call."""

    def build(self, original: Any) -> Any:
        return self.make(original)


@dataclass(slots=True)
class Alias(Hook):
    """Another name the library gives a hooked attribute (``pyarrow.RecordBatchFileWriter`` is
    ``pyarrow.ipc.RecordBatchFileWriter``, ``pyarrow.parquet.core.write_table`` is
    ``pyarrow.parquet.write_table``): it holds the very replacement ``of`` installed, so the
    other name governs as the hooked one does (it wrote past the decision). Installed only
    while it names the original ``of`` wraps; a name that holds something else is left
    alone."""

    of: Replacement | None = None

    def install(self) -> None:
        if self.installed or self.of is None or not self.of.installed:
            return
        if vars(self.owner).get(self.name, unset()) is not self.of.wrapped():
            return
        self._replacement = None  # the hooked name's replacement now, never a stale one
        Replacement.install(self)

    def build(self, original: Any) -> Any:
        return self.of.current() if self.of is not None else original


def aliases(hooks: list[Hook], owners: tuple[Any, ...]) -> list[Hook]:
    """An :class:`Alias` on each of ``owners`` (modules) for each export hook of ``hooks``
    whose original it holds under the same name: the writers a library exports twice."""
    found: list[Hook] = []
    for hook in hooks:
        if hook.action is not Action.EXPORT:
            continue
        original = vars(hook.owner).get(hook.name, unset())
        for owner in owners:
            if owner is not hook.owner and vars(owner).get(hook.name, unset()) is original:
                found.append(Alias(owner, hook.name, hook.make, hook.action,
                                   f"{owner.__name__}.{hook.name}", of=hook))
    return found


@dataclass
class Hooks:
    """The hooks of one library, installed while ``lacuna.enable()`` is on or a
    ``governed()`` block is open (the pandas integration's hold/release, per library)."""

    build: Callable[[], list[Hook]]
    _hooks: list[Hook] = field(default_factory=list)
    _built: list[Hook] | None = None  # build() once; each hook reuses its replacement
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wanted: bool = False
    _holds: int = 0

    def install(self) -> None:
        with self._lock:
            self._install()
            self._wanted = True

    def uninstall(self) -> None:
        with self._lock:
            self._wanted = False
            if not self._holds:
                self._uninstall()

    def hold(self) -> None:
        with self._lock:
            self._install()
            self._holds += 1

    def release(self) -> None:
        with self._lock:
            self._holds = max(self._holds - 1, 0)
            if not self._holds and not self._wanted:
                self._uninstall()

    def installed(self) -> bool:
        return bool(self._hooks)

    def suspend(self) -> None:
        """Take the hooks off for a moment, keeping who wants them: the library's module code
        runs again (``importlib.reload``) and binds its own functions, never a hook
        (:mod:`lacuna.integrations.imports`); :meth:`resume` puts them back."""
        with self._lock:
            self._uninstall()

    def resume(self) -> None:
        """Put the hooks back after :meth:`suspend`, around what the library holds now."""
        with self._lock:
            self._uninstall()  # installed meanwhile (a hold): around the old values
            if self._wanted or self._holds:
                self._install()

    def _install(self) -> None:
        if self._hooks:
            return
        if self._built is None:
            self._built = self.build()
        try:
            for hook in self._built:
                hook.install()
                self._hooks.append(hook)
        except BaseException:
            self._uninstall()
            raise

    def _uninstall(self) -> None:
        while self._hooks:
            self._hooks.pop().uninstall()

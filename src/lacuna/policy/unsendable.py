"""regorus engines are *unsendable*: one dropped on a thread other than the one that made it
raises (as an unraisable ``RuntimeError``) and leaks. This module keeps each engine on its
thread, in the two ways one could travel.

A ``threading.local`` held by an object is the first: when the object is collected, on whatever
thread the collector runs, every thread's value goes with it. A :class:`ThreadSlot` keeps the
values in one module-wide ``threading.local`` instead, keyed weakly by the slot: a value
outlives its slot on its own thread and is released there, the next time that thread sets a
slot or when the thread ends.

The second: an exception raised while an engine is a local (a bundle that does not parse,
compile or load) carries that engine in its traceback's frames. Such an error is often kept and
dropped elsewhere: a policy watcher's ``last_error`` on its thread, a check report, a server
answer.
:func:`releasing_engines` clears, on the raising thread, the locals of the finished frames an
exception leaving the decorated function holds (its cause's and context's too), so the engines
are released where they were made. The traceback keeps its files and lines.

A frame's locals can be cleared, a closure's cells cannot: in such a function, never let a
lambda, comprehension or generator expression capture an engine (write the loop).
"""

from __future__ import annotations

import functools
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_HELD = threading.local()  # per thread: {id(slot): (weakref(slot), value)}


class ThreadSlot(Generic[T]):
    """One value per thread, released on the thread that set it (see the module docstring)."""

    __slots__ = ("__weakref__",)

    def get(self) -> T | None:
        """This thread's value, or ``None`` when this thread set none."""
        entry = _held().get(id(self))
        if entry is None or entry[0]() is not self:  # a dead slot's leftover under a reused id
            return None
        value: T = entry[1]
        return value

    def set(self, value: T) -> None:
        """Make ``value`` this thread's; drop, here, this thread's values of dead slots."""
        held = _held()
        for k in [k for k, (ref, _) in held.items() if ref() is None]:
            del held[k]
        held[id(self)] = (weakref.ref(self), value)


def release_held() -> None:
    """Drop, here, every value this thread holds in any slot.

    For a long-lived thread that compiles engines only now and then and never decides with
    them: a decision log's writer explaining a denial, a policy watcher reloading. Both are
    daemon threads still running at exit, when the interpreter dropped what they held on the
    main thread (``regoruspy::Engine is unsendable, but is being dropped on another thread``
    after every test run). Such a thread calls this once it is done with them."""
    held: dict[int, tuple[weakref.ref[Any], Any]] | None = getattr(_HELD, "held", None)
    if held:
        held.clear()


def _held() -> dict[int, tuple[weakref.ref[Any], Any]]:
    held: dict[int, tuple[weakref.ref[Any], Any]] | None = getattr(_HELD, "held", None)
    if held is None:
        held = _HELD.held = {}
    return held


def releasing_engines(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a function that makes regorus engines (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            del args, kwargs  # this frame stays in the traceback: an engine argument goes
            release_frames(exc)
            raise

    return wrapper


def release_frames(exc: BaseException) -> None:
    """Clear the locals of every finished frame in the tracebacks of ``exc``, its cause and
    its context (frames still running, the callers', are left alone)."""
    todo: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        traceback.clear_frames(e.__traceback__)
        todo += [e.__cause__, e.__context__]

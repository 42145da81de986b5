"""regorus engines are *unsendable*: one dropped on a thread other than the one that made it
raises (as an unraisable ``RuntimeError``) and leaks. Lacuna keeps each engine on its thread
(see :mod:`lacuna.policy.engine`); this module closes the last way one could travel.

An exception raised while an engine is a local (a bundle that does not parse, compile or load)
carries that engine in its traceback's frames. Such an error is often kept and dropped
elsewhere: a policy watcher's ``last_error`` on its thread, a check report, a server answer.
:func:`releasing_engines` clears, on the raising thread, the locals of the finished frames an
exception leaving the decorated function holds (its cause's and context's too), so the engines
are released where they were made. The traceback keeps its files and lines.

A frame's locals can be cleared, a closure's cells cannot: in such a function, never let a
lambda, comprehension or generator expression capture an engine (write the loop).
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


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

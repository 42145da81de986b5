"""A re-entrancy guard: Lacuna's own pandas calls must not be governed again.

While ``bypass()`` is active in this thread (or task), the pandas integration passes every call
straight to pandas. Classification reads samples of files with it; anonymization builds frames
with it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_active: contextvars.ContextVar[bool] = contextvars.ContextVar("lacuna_bypass", default=False)


def active() -> bool:
    return _active.get()


@contextlib.contextmanager
def bypass() -> Iterator[None]:
    token = _active.set(True)
    try:
        yield
    finally:
        _active.reset(token)


@contextlib.contextmanager
def lifted() -> Iterator[None]:
    """The user's own code called back from inside a bypassed pandas call (the function given
    to ``groupby().apply``/``agg``/``transform``, ``rolling().apply``): governed again, so a
    write it makes is decided like any other."""
    token = _active.set(False)
    try:
        yield
    finally:
        _active.reset(token)

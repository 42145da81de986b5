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

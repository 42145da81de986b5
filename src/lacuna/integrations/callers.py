"""Who made a database call: the first frame outside a driver integration's own modules.

A governed connection decides the statements its user sends; the statements Lacuna sends (its
catalog look-ups) and SQLAlchemy sends (the SQL hook decides those, once) pass. Each driver
integration names what to step over (itself, the guard around it, the driver's own modules
that pass a caller's statement on) and asks who called.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from types import FrameType

GUARD = "lacuna.integrations.pandas._patch"  # the re-entry guard around every patched call
DECIDED_ELSEWHERE = ("lacuna.", "sqlalchemy.")  # Lacuna's own, or the SQL hook decides them


def module_of(frame: FrameType | None) -> str:
    """The module a frame runs in ("" for none)."""
    return str(frame.f_globals.get("__name__", "")) if frame is not None else ""


def lacunas(module: str) -> bool:
    """Whether ``module`` is Lacuna's (``lacuna`` or ``lacuna.*``, not ``lacuna_extras``)."""
    return module == "lacuna" or module.startswith("lacuna.")


def first_caller(skip: Callable[[str], bool]) -> FrameType | None:
    """The first frame outside this module whose module ``skip`` does not step over (None when
    every frame is stepped over)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and (module_of(frame) == __name__ or skip(module_of(frame))):
        frame = frame.f_back
    return frame


def among(modules: Iterable[str], *, packages: Iterable[str] = ()) -> Callable[[str], bool]:
    """Whether a module is one of these, or of these packages (the package itself or
    ``package.*``: ``asyncpg`` holds ``asyncpg.pool``, never ``asyncpgsa``). A ``skip`` rule."""
    exact = frozenset(modules)
    prefixes = tuple(f"{package}." for package in packages)
    whole = frozenset(packages)
    return lambda module: module in exact or module in whole or module.startswith(prefixes)


def decided_elsewhere(frame: FrameType | None) -> bool:
    """Whether the call comes from Lacuna or SQLAlchemy (``frame`` is the first caller outside
    the integration)."""
    module = module_of(frame)
    return module.startswith(DECIDED_ELSEWHERE) or module == "lacuna"


def opened_by_lacuna(skip: Callable[[str], bool]) -> bool:
    """Whether Lacuna opens a connection: the first caller outside the integration and outside
    SQLAlchemy is Lacuna's. One a user's engine opens (its pool, its ``creator=``) is governed:
    SQLAlchemy's own statements on it pass, those on its raw connection are decided."""
    frame = first_caller(lambda module: skip(module) or module.startswith("sqlalchemy."))
    return lacunas(module_of(frame))

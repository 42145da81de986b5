"""Who made a database call: the first frame outside a driver integration's own modules.

A governed connection decides the statements its user sends; the statements Lacuna sends (its
catalog look-ups) and SQLAlchemy sends (the SQL hook decides those, once) pass. Each driver
integration names what to step over (itself, the guard around it, the driver's own modules
that pass a caller's statement on) and asks who called.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from types import FrameType

GUARD = "lacuna.integrations.pandas._patch"  # the re-entry guard around every patched call


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
    the integration): a function of one of their modules (:func:`of_package`), not a frame
    whose globals only say so (a user's package named ``lacuna`` or ``sqlalchemy.x``, whose
    statements went undecided)."""
    return frame is not None and (of_package(frame, "lacuna") or of_package(frame, "sqlalchemy"))


def opened_by_lacuna(skip: Callable[[str], bool]) -> bool:
    """Whether Lacuna opens a connection: the first caller outside the integration and outside
    SQLAlchemy is Lacuna's (:func:`of_package`). One a user's engine opens (its pool, its
    ``creator=``) is governed: SQLAlchemy's own statements on it pass, those on its raw
    connection are decided. SQLAlchemy's frames are stepped over by name: its generated
    functions have no file of their own, and one that claims it hands the judgment on."""
    frame = first_caller(lambda module: skip(module) or module.startswith("sqlalchemy."))
    return frame is not None and of_package(frame, "lacuna")


def of_package(frame: FrameType, package: str) -> bool:
    """Whether ``frame`` runs a function of a module of ``package`` (``lacuna`` or
    ``sqlalchemy``) as installed: the module its globals name is that package's and was loaded
    from a file in the package's folder, those globals are the module's own, and the code was
    compiled from that file. A name alone (``__name__``) or a file name alone (``compile(src,
    ".../lacuna/x.py", "exec")``) is not enough. The process owner can still run code inside
    such a module (``exec(code, vars(lacuna.x))``), as they can switch governance off: this
    keeps the program's own code from passing for Lacuna's, not its owner out (~2 µs)."""
    name = frame.f_globals.get("__name__")
    if not isinstance(name, str) or not (name == package or name.startswith(package + ".")):
        return False
    root, module = sys.modules.get(package), sys.modules.get(name)
    folder, file = getattr(root, "__file__", None), getattr(module, "__file__", None)
    if module is None or not isinstance(folder, str) or not isinstance(file, str):
        return False
    return (vars(module) is frame.f_globals and frame.f_code.co_filename == file
            and os.path.abspath(file).startswith(os.path.dirname(os.path.abspath(folder))
                                                 + os.sep))

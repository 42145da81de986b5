"""Where a pandas call came from: the user's stack frame, code location and variable name,
and how a read source or write target is named."""

from __future__ import annotations

import dis
import functools
import os
import sys
from types import CodeType, FrameType
from typing import Any

_INTERNAL_PREFIXES = ("pandas.", "lacuna.", "numpy.", "pyarrow.")


def display_name(target: Any) -> str:
    """How a read source or write target is named in lineage and messages."""
    if isinstance(target, (str, os.PathLike)):
        return os.fspath(target)
    name = getattr(target, "name", None)  # an open file object
    return name if isinstance(name, str) else f"<{type(target).__name__}>"


def user_frame() -> FrameType | None:
    """The innermost stack frame that belongs to the user's code, not pandas or Lacuna."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not (module.startswith(_INTERNAL_PREFIXES) or module in ("pandas", "lacuna")):
            return frame
        frame = frame.f_back
    return None


def code_location(frame: FrameType | None) -> str | None:
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else None


_LOADS = frozenset({"LOAD_NAME", "LOAD_FAST", "LOAD_GLOBAL", "LOAD_DEREF", "LOAD_FAST_CHECK"})


@functools.lru_cache(maxsize=512)
def _instructions(code: CodeType) -> tuple[dis.Instruction, ...]:
    return tuple(dis.get_instructions(code))


def _called_on(frame: FrameType) -> str | None:
    """The name the current call was made through: ``df`` in ``df.to_csv(...)``.

    Read from the caller's bytecode (the load right before the method lookup that precedes the
    current instruction), so it works for notebooks and exec'd code that have no source line.
    """
    instructions = _instructions(frame.f_code)
    here = next(
        (i for i, ins in enumerate(instructions) if ins.offset >= frame.f_lasti),
        len(instructions) - 1,
    )
    for i in range(here, max(here - 64, 0), -1):
        ins = instructions[i]
        if ins.opname in ("LOAD_METHOD", "LOAD_ATTR") and i > 0:
            prev = instructions[i - 1]
            return str(prev.argval) if prev.opname in _LOADS else None
    return None


def variable_name(obj: Any, frame: FrameType | None) -> str | None:
    """The user's name for ``obj`` in ``frame``: the name the call was made through when it is
    bound to ``obj``, else the first name bound to it (locals first, then globals)."""
    if frame is None:
        return None
    called = _called_on(frame)
    if called and (frame.f_locals.get(called, frame.f_globals.get(called)) is obj):
        return called
    for scope in (frame.f_locals, frame.f_globals):
        for name, value in scope.items():
            if value is obj and not name.startswith("_"):
                return name
    return None


def settings() -> Any:
    """The classification settings of the process-wide governor, which the lineage step is
    handed (it never looks the governor up itself)."""
    from lacuna.governor import current

    return current().config.classification

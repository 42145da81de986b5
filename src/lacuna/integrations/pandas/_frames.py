"""What Lacuna knows about a pandas object right now: its effective classification and lineage.

The state stored in ``attrs`` was computed when the object was produced; since then the object
may have lost columns (projection) or gained some (assignment, rename). ``effective_state``
reconciles the two with :func:`lacuna.lineage.rules.derive`: dropped columns recompute, new
columns are classified on their own and never lower what the parent carried.
"""

from __future__ import annotations

import dis
import functools
import os
import sys
from types import CodeType, FrameType
from typing import Any

import pandas as pd

from lacuna import _bypass
from lacuna.lineage import rules
from lacuna.lineage.state import DataState, LineageNode, get_state, set_state
from lacuna.model import Classification

IN_MEMORY = "<in-memory>"
_EMPTY = Classification()
_INTERNAL_PREFIXES = ("pandas.", "lacuna.", "numpy.", "pyarrow.")


def labels(obj: pd.DataFrame | pd.Series) -> list[str]:
    """Column names plus named index levels: what a reader of the object can see."""
    if isinstance(obj, pd.Series):
        names = [] if obj.name is None else [str(obj.name)]
    else:
        names = [str(c) for c in obj.columns]
    names += [str(n) for n in obj.index.names if n is not None]
    return list(dict.fromkeys(names))


def effective_state(obj: pd.DataFrame | pd.Series) -> DataState:
    """The classification and lineage of ``obj`` as it is now (see the module docstring)."""
    from lacuna.classify import classify_columns
    from lacuna.governor import current

    state = get_state(obj)
    parent = state.classification if state else _EMPTY
    lineage = state.lineage if state else LineageNode(name=IN_MEMORY, operation="in-memory")
    kept = labels(obj)
    unknown = [name for name in kept if name not in parent.columns]
    config = current().config.classification
    new: dict[str, Any] = {}
    if unknown:
        with _bypass.bypass():
            samples = _samples(obj, unknown, config.sample_rows)
            new = classify_columns(unknown, samples, config)
    if not unknown and len(kept) == len(parent.columns):
        return state or DataState(classification=parent, lineage=lineage)
    return DataState(classification=rules.derive(parent, kept, new, config), lineage=lineage)


def state_of(obj: Any) -> DataState | None:
    """The effective state of a pandas object; ``None`` for anything else."""
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return effective_state(obj)
    return None


def attach(obj: Any, classification: Classification, lineage: LineageNode) -> Any:
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        set_state(obj, DataState(classification=classification, lineage=lineage))
    return obj


def _samples(obj: pd.DataFrame | pd.Series, names: list[str], rows: int) -> dict[str, Any]:
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
    n = len(frame)
    if n > rows:  # evenly spaced rows: deterministic, and sees the whole range of the data
        step = n / rows
        frame = frame.iloc[[int(i * step) for i in range(rows)]]
    out: dict[str, Any] = {}
    columns = {str(c): c for c in frame.columns}
    for name in names:
        if name in columns:
            col = frame[columns[name]]
            out[name] = col.iloc[:, 0] if isinstance(col, pd.DataFrame) else col
        elif name in [str(x) for x in frame.index.names if x is not None]:
            out[name] = frame.index.get_level_values(name).to_series()
    return out


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

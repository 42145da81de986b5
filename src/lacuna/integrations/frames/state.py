"""The state of frames that have no ``attrs``: a weak registry keyed by object identity.

A polars ``DataFrame``/``LazyFrame``, a pyarrow ``Table`` or a DuckDB relation is immutable
from the user's point of view: every operation returns a new object. So each object's
:class:`~lacuna.lineage.state.DataState` is stored once, when the object is made (a read, a
translated operation, a conversion), under ``id(obj)`` with a weak reference that removes the
entry when the object is collected (a reused id never inherits a stale state: the entry's
reference must still point at the same object).

:func:`effective` is the frame's classification as of its columns now: the tracked state
projected to the columns it still has (a ``DERIVE`` step of :mod:`lacuna.lineage.step`), and
columns it never saw classified from their names and values (through
:func:`lacuna.lineage.frames.effective_state` over a pandas sample).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Generic, TypeVar

import pandas as pd

from lacuna import _bypass
from lacuna.config import ClassificationConfig
from lacuna.lineage.frames import effective_state
from lacuna.lineage.state import DataState, set_state
from lacuna.lineage.step import Step, StepInput, StepKind, inherit

T = TypeVar("T")


class WeakRegistry(Generic[T]):
    """A value per live object, by identity (the entry goes when the object is collected)."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Any], T]] = {}
        self._lock = threading.Lock()

    def get(self, obj: Any) -> T | None:
        entry = self._entries.get(id(obj))
        if entry is None or entry[0]() is not obj:
            return None
        return entry[1]

    def set(self, obj: Any, value: T) -> Any:
        key = id(obj)

        def gone(ref: weakref.ref[Any], key: int = key) -> None:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry[0] is ref:
                    del self._entries[key]

        try:
            ref = weakref.ref(obj, gone)
        except TypeError:  # not weak-referenceable: nothing can be attached
            return obj
        with self._lock:
            self._entries[key] = (ref, value)
        return obj

    def __len__(self) -> int:
        return len(self._entries)


class StateRegistry(WeakRegistry[DataState]):
    """``DataState`` per live object, by identity."""


STATES = StateRegistry()


def state_of(obj: Any) -> DataState | None:
    """The state tracked for ``obj``, or None."""
    return STATES.get(obj)


Sample = Callable[[Sequence[str]], pd.DataFrame]


def effective(
    state: DataState | None,
    columns: Sequence[str],
    sample: Sample,
    config: ClassificationConfig,
) -> DataState:
    """The state of a frame with ``columns`` now, from its tracked ``state``.

    Args:
        state: what was tracked (None: nothing, classify from names and values).
        columns: the frame's column names now.
        sample: ``sample(columns)`` returns a pandas frame of sampled rows of those columns;
            called only when some column was never classified.
        config: the classification settings.
    """
    kept = list(dict.fromkeys(str(c) for c in columns))
    if state is not None and state.classification.columns and all(
            c in state.classification.columns for c in kept):
        if len(kept) == len(state.classification.columns):
            return state
        step = Step(kind=StepKind.DERIVE, operation="project", inputs=(StepInput.of(state),),
                    outputs=tuple(kept))
        return replace(state, classification=inherit(step, config).classification)
    with _bypass.bypass():
        frame = sample(kept)
        if state is not None:
            set_state(frame, replace(state, fingerprints={}))
        return effective_state(frame, config, recheck=False)


def k_again(found: DataState, columns: Sequence[str],
            read: Callable[[Sequence[str]], pd.DataFrame],
            config: ClassificationConfig) -> DataState:
    """``found`` once k is counted on the rows the frame holds now, when it has
    quasi-identifiers a k-anonymity check marked (:func:`lacuna.lineage.frames._k_of_subset`,
    as for pandas); ``read(names)`` gives those columns' values, every row, as pandas.

    A filter, ``head``, ``slice`` or ``take`` keeps its parent's state, and these frames have
    no content fingerprints to see that rows went: one person's row of a k-anonymous release
    (``lacuna.datasets.get(..., engine="polars").filter(...)``, ``pa.Table.from_pandas(anon)
    .slice(7, 1)``) was PUBLIC and written to ~/Downloads. Only the quasi-identifier columns
    are read, and only for such frames."""
    from lacuna.lineage.frames import _k_of_subset
    from lacuna.privacy import _is_quasi

    classes = found.classification.columns
    present = {str(c) for c in columns}
    if not any(c.quasi_identifier is not None and not c.is_personal and n in present
               for n, c in classes.items()):
        return found
    names = [n for n, c in classes.items()
             if n in present and not c.is_personal and (c.quasi_identifier is not None
                                                        or _is_quasi(n, c))]
    with _bypass.bypass():
        values = read(names)
    counted = _k_of_subset(values, found.classification, names, config)
    return found if counted is found.classification else replace(found, classification=counted)

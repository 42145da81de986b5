"""What Lacuna knows about a pandas object right now: its effective classification and lineage.

Host-independent (no interception here): the pandas integration, anonymization and
``lacuna.check`` all ask the same question of a frame.

The state stored in ``attrs`` was computed when the object was produced; since then the object
may have lost columns (projection) or gained some (assignment, rename). ``effective_state``
reconciles the two with :func:`lacuna.lineage.rules.derive`: dropped columns recompute, new
columns are classified on their own and never lower what the parent carried.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lacuna import _bypass
from lacuna.config import ClassificationConfig
from lacuna.lineage import rules
from lacuna.lineage.state import DataState, LineageNode, get_state, set_state
from lacuna.model import Classification

IN_MEMORY = "<in-memory>"
_EMPTY = Classification()


def labels(obj: pd.DataFrame | pd.Series) -> list[str]:
    """Column names plus named index levels: what a reader of the object can see."""
    if isinstance(obj, pd.Series):
        names = [] if obj.name is None else [str(obj.name)]
    else:
        names = [str(c) for c in obj.columns]
    names += [str(n) for n in obj.index.names if n is not None]
    return list(dict.fromkeys(names))


def effective_state(
    obj: pd.DataFrame | pd.Series, config: ClassificationConfig | None = None
) -> DataState:
    """The classification and lineage of ``obj`` as it is now (see the module docstring).

    Args:
        obj: a DataFrame or Series, governed or not.
        config: classification settings; default: the process-wide governor's.
    """
    from lacuna.classify import classify_columns

    if config is None:
        from lacuna.governor import current

        config = current().config.classification
    state = get_state(obj)
    parent = state.classification if state else _EMPTY
    lineage = state.lineage if state else LineageNode(name=IN_MEMORY, operation="in-memory")
    kept = labels(obj)
    unknown = [name for name in kept if name not in parent.columns]
    new: dict[str, Any] = {}
    if unknown:
        with _bypass.bypass():
            samples = _samples(obj, unknown, config.sample_rows)
            new = classify_columns(unknown, samples, config)
    if not unknown and len(kept) == len(parent.columns):
        return state or DataState(classification=parent, lineage=lineage)
    return DataState(classification=rules.derive(parent, kept, new, config), lineage=lineage)


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
